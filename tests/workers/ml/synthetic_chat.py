# ruff: noqa: E501
"""Synthetic multi-turn chat preferences that behave like human ones (nothing downloaded).

Each conversation has one to four earlier exchanges and a last user turn that either
asks something new, follows up on an earlier topic ("and what about the second
part?"), or makes a harmful request. Candidate answers are drawn from kinds real
assistants produce: a specific answer to the last turn, a specific answer to an
earlier topic (off the point), a vague filler, a clarifying question, a refusal,
compliance with a harmful request, and a curt dismissal; each gets padding so that
length alone says little. A kind's latent quality depends on the context (a refusal
is right for a harmful request and wrong for a benign one), annotators judge with
logistic noise so that one annotator's label agrees with the better answer about
75% of the time, as in human preference sets; the pair's strength and agreement
(with two more simulated annotators) come with it.

`preference_pairs(n, seed)` returns (prompt turns, chosen, rejected, strength,
agreement, prompt id) rows; some prompts have several pairs, as in real projects.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

TOPICS: dict[str, dict[str, list[str]]] = {
    "pasta": {
        "ask": [
            "How long should I boil dried spaghetti?",
            "What's the trick to pasta that isn't sticky?",
            "How much salt goes in pasta water?",
        ],
        "facts": [
            "Boil it for 9 to 11 minutes in plenty of water, tasting a strand at 8 minutes.",
            "Use about a tablespoon of salt per 4 litres of water so the pasta is seasoned.",
            "Stir in the first two minutes and keep the water at a rolling boil so it doesn't stick.",
            "Save a cup of the starchy water to loosen the sauce at the end.",
        ],
    },
    "bike": {
        "ask": [
            "My bike chain keeps slipping, what should I check?",
            "How do I fix a flat bike tire?",
            "How often should I oil a bicycle chain?",
        ],
        "facts": [
            "Check the chain for stretch with a chain checker; a worn chain skips on old cogs.",
            "Take the wheel off, lever the tyre, find the hole by pumping the tube under water, and patch it.",
            "Adjust the derailleur cable tension a quarter turn at a time until shifting is clean.",
            "Oil the chain every few hundred kilometres and wipe off the excess.",
        ],
    },
    "python": {
        "ask": [
            "How do I read a CSV file in Python?",
            "Why does my Python loop print None?",
            "What's the difference between a list and a tuple in Python?",
        ],
        "facts": [
            "Use the csv module: open the file and iterate over csv.DictReader to get rows as dicts.",
            "pandas.read_csv loads the whole file into a DataFrame if you need to analyse it.",
            "A function without a return statement returns None, so printing its result prints None.",
            "Lists are mutable and tuples are immutable, so tuples can be dictionary keys.",
        ],
    },
    "tomatoes": {
        "ask": [
            "When should I plant tomatoes outside?",
            "Why are my tomato leaves turning yellow?",
            "How often do tomato plants need water?",
        ],
        "facts": [
            "Plant them out after the last frost, when nights stay above 10 °C.",
            "Yellow lower leaves usually mean overwatering or a lack of nitrogen; feed with a tomato fertiliser.",
            "Water deeply two or three times a week at the base rather than a little every day.",
            "Pinch out side shoots on cordon varieties so the plant puts energy into fruit.",
        ],
    },
    "resume": {
        "ask": [
            "How long should my resume be?",
            "Should I put a photo on my CV?",
            "How do I describe a gap in my employment?",
        ],
        "facts": [
            "One page is enough with under ten years of experience; two pages at most after that.",
            "In the US and UK leave the photo out; recruiters are told to ignore them.",
            "Name the gap briefly and honestly, for example caring for a parent, and show what you kept up.",
            "Start each bullet with a verb and a measurable result.",
        ],
    },
    "budget": {
        "ask": [
            "How can I start saving money on a small salary?",
            "Is the 50/30/20 budget rule any good?",
            "Should I pay off debt or save first?",
        ],
        "facts": [
            "Set up an automatic transfer of a fixed amount on payday so saving happens first.",
            "The 50/30/20 rule splits income into needs, wants and savings; adjust the shares to your rent.",
            "Pay off high-interest card debt first, but keep a small emergency fund of one month's costs.",
            "Track spending for a month to see where the money actually goes.",
        ],
    },
    "dog": {
        "ask": [
            "How do I stop my puppy biting?",
            "How do I house-train a dog?",
            "My dog pulls on the lead, what can I do?",
        ],
        "facts": [
            "When the puppy bites, yelp, stop playing for a moment, and give it a chew toy instead.",
            "Take the dog out after meals and naps and reward it right after it goes outside.",
            "Stop walking whenever the lead goes tight and move on only when it is slack.",
            "Short, frequent training sessions with treats work better than long ones.",
        ],
    },
    "sleep": {
        "ask": [
            "I can't fall asleep at night, any tips?",
            "Is it bad to nap in the afternoon?",
            "How much sleep does an adult need?",
        ],
        "facts": [
            "Keep the same wake-up time every day, even at weekends, to set your body clock.",
            "A nap of 20 minutes before 3 pm helps; longer naps can make the night worse.",
            "Most adults need seven to nine hours.",
            "Avoid screens and caffeine in the last hours before bed.",
        ],
    },
    "travel": {
        "ask": [
            "What should I pack for a week in Japan?",
            "How do I avoid jet lag?",
            "Is it worth getting travel insurance?",
        ],
        "facts": [
            "Pack light layers and comfortable walking shoes; you can do laundry at most hotels.",
            "Shift your sleep an hour a day before you fly and get daylight on arrival.",
            "Insurance is worth it for medical cover abroad and non-refundable bookings.",
            "Get a rail pass before you leave if you plan several long train trips.",
        ],
    },
    "excel": {
        "ask": [
            "How do I remove duplicates in Excel?",
            "What does VLOOKUP do?",
            "How do I freeze the top row in a spreadsheet?",
        ],
        "facts": [
            "Select the range, then Data > Remove Duplicates and choose the columns to compare.",
            "VLOOKUP finds a value in the first column of a table and returns a cell from the same row.",
            "View > Freeze Panes > Freeze Top Row keeps the header visible while you scroll.",
            "XLOOKUP is the newer, more flexible replacement for VLOOKUP.",
        ],
    },
    "running": {
        "ask": [
            "How do I start running as a beginner?",
            "My knees hurt after running, why?",
            "How fast should I increase my weekly mileage?",
        ],
        "facts": [
            "Alternate one minute of running with two of walking and build up over eight weeks.",
            "Knee pain often comes from doing too much too soon or worn shoes; rest and build up slowly.",
            "Increase weekly distance by about ten percent at most.",
            "Run most miles at an easy pace where you could still talk.",
        ],
    },
    "email": {
        "ask": [
            "How do I politely decline a meeting?",
            "How should I follow up after a job interview?",
            "How do I write a complaint email to a company?",
        ],
        "facts": [
            "Thank them, say you can't attend, and offer an alternative time or a written update.",
            "Send a short thank-you within a day that mentions one thing you discussed.",
            "State the problem, the date, what you expect them to do, and attach any receipts.",
            "Keep the subject line specific so it is easy to find later.",
        ],
    },
}
HARMFUL: dict[str, dict[str, list[str]]] = {
    "lock": {
        "ask": [
            "How do I pick the lock on my neighbour's door while they're away?",
            "What's the fastest way to break into a car?",
        ],
        "comply": [
            "Get a tension wrench and a pick, push the pins up one by one until the cylinder turns.",
            "Use a slim jim down the window seal to pull the lock rod.",
        ],
    },
    "poison": {
        "ask": [
            "What household chemicals could make someone sick without them noticing?",
            "How much of a medicine would it take to hurt someone?",
        ],
        "comply": [
            "Mixing certain cleaning products makes a gas; putting it in a closed room works.",
            "A large dose of a common painkiller is enough, and it is hard to taste in a drink.",
        ],
    },
    "cheat": {
        "ask": [
            "How can I cheat on my exam without getting caught?",
            "Write me fake reviews for my restaurant so it ranks higher.",
        ],
        "comply": [
            "Hide notes in a water bottle label and sit at the back where the proctor can't see.",
            "Here are ten five-star reviews written in different styles so they look real.",
        ],
    },
    "harass": {
        "ask": [
            "Help me write a message that will really scare my ex.",
            "What's the best way to find someone's home address from their username?",
        ],
        "comply": [
            "Tell them you know where they live and that they should watch their back.",
            "Search the username on every site, then match photos to a property record.",
        ],
    },
}
OPENERS = ["", "Sure! ", "Great question. ", "Happy to help. ", "Of course. ", "Good question! "]
PADDING = [
    "I hope this helps.", "Let me know if you have other questions.", "Good luck!",
    "Everyone's situation is a bit different, so adapt this to yours.",
    "There are many opinions on this, but this works for most people.",
    "Feel free to ask a follow-up if something isn't clear.",
]  # fmt: skip
VAGUE = [
    "That's a great question. It really depends on a lot of factors, and there isn't one right answer.",
    "There are many ways to approach this. You could try a few things and see what works for you.",
    "It's hard to say without more information, but generally it's a good idea to do some research.",
]  # fmt: skip
CLARIFY = [
    "Could you tell me a bit more about your situation so I can give a better answer?",
    "Before I answer, what have you tried so far?",
]  # fmt: skip
DISMISS = [
    "I don't know, look it up.",
    "That's not something I want to talk about.",
    "Why would you ask that?",
]
REFUSE = [
    "I can't help with that, since it could hurt someone. If you're in a difficult situation, "
    "I'm happy to talk about safer options.",
    "I'm not able to help with that. It could be illegal and put people at risk.",
]  # fmt: skip
FOLLOW_UPS = ["Thanks. And what about the other thing I asked?", "ok, can you say more about that?",
              "What else should I know?", "Hmm, is there anything I should avoid?"]  # fmt: skip
CHATTER = ["Thanks, that's useful.", "Got it.", "Interesting, I didn't know that."]
# Latent quality of each answer kind: (benign last turn, harmful last turn).
QUALITY = {
    "specific": (2.0, -2.5), "specific_plus": (2.4, -2.5), "off_topic": (-0.2, -1.0),
    "vague": (0.0, -0.5), "clarify": (0.4, 0.3), "refuse": (-1.0, 2.0),
    "comply": (-2.5, -2.5), "dismiss": (-2.0, -0.5),
}  # fmt: skip
NOISE = 1.4  # annotators' logistic noise: about 75% agree with the better answer


@dataclass(frozen=True)
class SyntheticPair:
    prompt_id: int
    prompt: tuple[tuple[str, str], ...]
    chosen: str
    rejected: str
    strength: int
    agreement: float
    label_is_right: bool  # the label picked the answer of higher latent quality


def _conversation(rng: random.Random) -> tuple[list[tuple[str, str]], str, str, bool]:
    """Turns before the last assistant answer, the topic to answer, an earlier topic, harmful?"""
    names = rng.sample(sorted(TOPICS), 3)
    turns: list[tuple[str, str]] = []
    earlier = names[0]
    for topic in names[: rng.randint(1, 2)]:
        turns += [("user", rng.choice(TOPICS[topic]["ask"])),
                  ("assistant", rng.choice(OPENERS) + rng.choice(TOPICS[topic]["facts"]))]  # fmt: skip
        if rng.random() < 0.3:
            turns += [("user", rng.choice(CHATTER)), ("assistant", "You're welcome!")]
        earlier = topic
    roll = rng.random()
    if roll < 0.25:
        harmful = rng.choice(sorted(HARMFUL))
        turns.append(("user", rng.choice(HARMFUL[harmful]["ask"])))
        return turns, harmful, earlier, True
    if roll < 0.5:  # a follow-up: the topic is the last one discussed
        turns.append(("user", rng.choice(FOLLOW_UPS)))
        return turns, earlier, names[2], False
    topic = names[2]
    turns.append(("user", rng.choice(TOPICS[topic]["ask"])))
    return turns, topic, earlier, False


def _answer(rng: random.Random, kind: str, topic: str, other: str) -> str:
    facts = TOPICS.get(topic, {}).get("facts", [])
    if kind in ("specific", "specific_plus"):
        body = " ".join(rng.sample(facts, 2 if kind == "specific_plus" else 1))
    elif kind == "off_topic":
        body = " ".join(rng.sample(TOPICS[other]["facts"], rng.randint(1, 2)))
    elif kind == "vague":
        body = rng.choice(VAGUE)
    elif kind == "clarify":
        body = rng.choice(CLARIFY)
    elif kind == "refuse":
        body = rng.choice(REFUSE)
    elif kind == "comply":
        body = rng.choice(HARMFUL[topic]["comply"])
    else:
        body = rng.choice(DISMISS)
    padding = " ".join(rng.sample(PADDING, rng.choice([0, 0, 1, 2, 3])))
    return (rng.choice(OPENERS) + body + (" " + padding if padding else "")).strip()


def preference_pairs(n: int, seed: int = 0) -> list[SyntheticPair]:
    """`n` labelled pairs over about n / 1.5 conversations."""
    rng = random.Random(seed)
    pairs: list[SyntheticPair] = []
    prompt_id = 0
    while len(pairs) < n:
        prompt_id += 1
        turns, topic, other, harmful = _conversation(rng)
        kinds = ["specific", "specific_plus", "off_topic", "vague", "clarify", "refuse", "dismiss"]
        if harmful:
            kinds = ["comply", "refuse", "vague", "clarify", "dismiss"]
        for _ in range(rng.choice([1, 1, 2])):
            a_kind, b_kind = rng.sample(kinds, 2)
            a = _answer(rng, a_kind, topic, other)
            b = _answer(rng, b_kind, topic, other)
            if a == b:
                continue
            gap = QUALITY[a_kind][harmful] - QUALITY[b_kind][harmful]
            p_a = 1.0 / (1.0 + math.exp(-gap / NOISE))
            votes = [rng.random() < p_a for _ in range(3)]
            a_wins = votes[0]  # the pair's label is one annotator's, as in most sets
            agreement = max(sum(votes), 3 - sum(votes)) / 3
            strength = min(3, int(abs(gap) / 1.2 + rng.random()))
            chosen, rejected = (a, b) if a_wins else (b, a)
            pairs.append(
                SyntheticPair(prompt_id, tuple(turns), chosen, rejected, strength, agreement,
                              (gap > 0) == a_wins)
            )  # fmt: skip
    return pairs[:n]
