// The annotation workbench: keyboard shortcuts, span marking, ranking, prefetch, submit.
//
// One item is on screen (#workbench-item); the next one is fetched while the annotator
// reads and kept in memory, so a submit shows it at once. The submitted item's node is
// kept until the server answers: if the submit fails, it goes back on screen with
// everything the annotator entered and the error, and the same idempotency key is sent
// again on retry, so a judgment is never lost nor recorded twice.
//
// One submit is in flight at a time. Enter on the next item while it is (about 100 ms)
// queues that item's submit: the item says so, is locked, and is sent once the first is
// saved (or comes back, unsent, after the first if that one fails). A key that would change
// an item while there is none on screen, or while the one shown is queued, is refused with
// a message: no key is ever dropped without a sign.
//
// Span offsets are counted in code points of the raw response text (as Python counts
// them), whether the response is shown as rendered Markdown or as raw text: model-text.js
// (window.PalateText) maps a selection to raw offsets and marks spans on the shown text.
(function () {
  "use strict";

  var root = document.getElementById("workbench");
  if (!root) return;
  var box = document.getElementById("workbench-item");
  var alertBox = document.getElementById("workbench-alert");
  var hint = document.getElementById("workbench-hint");
  var keymap = document.getElementById("keymap");

  var nextItem = null; // {id, node}: the prefetched item, not in the document
  var prefetching = null; // the assignment id a prefetch is running for
  var pending = null; // {item}: a submit waiting for the server
  var queued = null; // the item on screen whose submit waits for the pending one
  var selecting = null; // {item, text}: choosing a span with the keyboard
  var clock = new WeakMap(); // item node → {spent: ms, since: ms or null}
  var modelText = window.PalateText;

  // ---------------------------------------------------------------- helpers

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"];
    } catch (error) {
      return "";
    }
  }

  function current() {
    return box.querySelector(":scope > [data-assignment], :scope > [data-empty]");
  }

  function idOf(node) {
    return node && node.dataset.assignment ? node.dataset.assignment : null;
  }

  function say(message, kind) {
    var alert = document.createElement("div");
    alert.className = "alert " + (kind === "info" ? "alert-info" : "alert-error");
    alert.setAttribute("role", kind === "info" ? "status" : "alert");
    alert.textContent = message;
    alertBox.replaceChildren(alert);
  }

  function clearAlert() {
    alertBox.replaceChildren();
  }

  function showHint(text) {
    hint.textContent = text;
    hint.hidden = !text;
  }

  function parseFragment(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    return doc;
  }

  function isTyping(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["radio", "checkbox", "button", "submit", "reset"].indexOf(el.type) === -1;
  }

  function openDialog() {
    return document.querySelector("dialog[open]");
  }

  // ---------------------------------------------------------------- time spent

  function startClock(item) {
    var entry = clock.get(item) || { spent: 0, since: null };
    if (entry.since === null) entry.since = Date.now();
    clock.set(item, entry);
  }

  function stopClock(item) {
    var entry = clock.get(item);
    if (!entry || entry.since === null) return;
    entry.spent += Date.now() - entry.since;
    entry.since = null;
  }

  function spentSeconds(item) {
    var entry = clock.get(item);
    if (!entry) return 0;
    var running = entry.since === null ? 0 : Date.now() - entry.since;
    return (entry.spent + running) / 1000;
  }

  window.setInterval(function () {
    var item = current();
    var out = item && item.querySelector("[data-timer]");
    if (!out) return;
    var seconds = Math.floor(spentSeconds(item));
    out.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }, 1000);

  // ---------------------------------------------------------------- progress

  function bumpProgress(delta) {
    var status = document.getElementById("workbench-status");
    if (!status) return;
    var done = status.querySelector("[data-done]");
    var left = status.querySelector("[data-left]");
    var bar = status.querySelector("[data-progress]");
    var d = Math.max(0, parseInt(done.textContent, 10) + delta);
    var l = Math.max(0, parseInt(left.textContent, 10) - delta);
    done.textContent = d;
    left.textContent = l;
    bar.max = Math.max(1, d + l);
    bar.value = d;
  }

  function replaceStatus(doc) {
    var fresh = doc.getElementById("workbench-status");
    var old = document.getElementById("workbench-status");
    if (!fresh || !old) return;
    fresh.removeAttribute("hx-swap-oob");
    fresh = document.adoptNode(fresh);
    old.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
  }

  // ---------------------------------------------------------------- spans

  function spansOf(item) {
    var input = item.querySelector("[data-spans]");
    try {
      var spans = JSON.parse(input.value || "[]");
      return Array.isArray(spans) ? spans : [];
    } catch (error) {
      return [];
    }
  }

  function saveSpans(item, spans) {
    item.querySelector("[data-spans]").value = JSON.stringify(spans);
    renderSpans(item);
  }

  function textNodeOf(item, responseId) {
    var response = item.querySelector('[data-response="' + responseId + '"]');
    return response && response.querySelector("[data-text]");
  }

  function positionOf(item, responseId) {
    var response = item.querySelector('[data-response="' + responseId + '"]');
    return response ? response.dataset.position : "?";
  }

  function renderSpans(item) {
    var spans = spansOf(item);
    item.querySelectorAll("[data-text]").forEach(function (el) {
      var responseId = el.closest("[data-response]").dataset.response;
      var mine = [];
      spans.forEach(function (span, index) {
        if (String(span.response) === responseId) {
          mine.push({
            start: span.start,
            end: span.end,
            index: index,
            title: span.category + (span.note ? ": " + span.note : ""),
          });
        }
      });
      modelText.mark(el, mine);
    });
    var list = item.querySelector("[data-span-list]");
    list.replaceChildren();
    spans.forEach(function (span, index) {
      var el = textNodeOf(item, span.response);
      var quote = el ? modelText.quoteOf(el, index) : "";
      var li = document.createElement("li");
      var where = document.createElement("span");
      where.className = "muted small";
      where.textContent = "Response " + positionOf(item, span.response);
      var mark = document.createElement("mark");
      mark.className = "wb-mark";
      mark.textContent = quote.length > 80 ? quote.slice(0, 79) + "…" : quote;
      var category = document.createElement("span");
      category.className = "badge";
      category.textContent = span.category;
      li.append(where, " ", mark, " ", category);
      if (span.note) {
        var note = document.createElement("span");
        note.className = "wb-span-note";
        note.textContent = span.note;
        li.append(" ", note);
      }
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-small btn-ghost";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove the span “" + mark.textContent + "”");
      remove.addEventListener("click", function () {
        var all = spansOf(item);
        all.splice(index, 1);
        saveSpans(item, all);
        item.focus({ preventScroll: true });
      });
      li.append(" ", remove);
      list.appendChild(li);
    });
  }

  // The selection as code point offsets in one response's raw text, or null.
  function selectedSpan(item) {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    var range = selection.getRangeAt(0);
    var anchor = selection.anchorNode;
    var el = anchor && (anchor.nodeType === 1 ? anchor : anchor.parentNode).closest("[data-text]");
    if (!el || !item.contains(el)) return null;
    var span = modelText.offsetsOf(el, range);
    if (!span) return null;
    span.response = parseInt(el.closest("[data-response]").dataset.response, 10);
    return span;
  }

  function startSelecting(item, text) {
    if (selecting) selecting.text.classList.remove("wb-selecting");
    selecting = { item: item, text: text };
    text.classList.add("wb-selecting");
    var selection = window.getSelection();
    var walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
    var first = walker.nextNode();
    if (first) selection.collapse(first, 0);
    else selection.collapse(text, 0);
    text.scrollIntoView({ block: "nearest" });
    showHint(
      "Selecting in Response " +
        text.closest("[data-response]").dataset.position +
        ": Shift+arrows select (Ctrl for words), Tab: other response, Enter: mark, Esc: stop."
    );
  }

  function stopSelecting() {
    if (!selecting) return;
    selecting.text.classList.remove("wb-selecting");
    selecting = null;
    showHint("");
  }

  function keepSelectionInside(text, saved) {
    var selection = window.getSelection();
    if (!selection.rangeCount) return;
    if (!text.contains(selection.anchorNode) || !text.contains(selection.focusNode)) {
      selection.setBaseAndExtent(saved[0], saved[1], saved[2], saved[3]);
    }
  }

  function onSelectingKey(event) {
    var selection = window.getSelection();
    var text = selecting.text;
    var item = selecting.item;
    if (event.key === "Escape") {
      event.preventDefault();
      stopSelecting();
      selection.removeAllRanges();
      return;
    }
    if (event.key === "Tab") {
      event.preventDefault();
      var texts = Array.from(item.querySelectorAll("[data-text]"));
      var next = texts[(texts.indexOf(text) + (event.shiftKey ? texts.length - 1 : 1)) % texts.length];
      startSelecting(item, next);
      return;
    }
    if (event.key === "Enter" || event.key === "m") {
      event.preventDefault();
      var span = selectedSpan(item);
      stopSelecting();
      if (span) askCategory(item, span);
      else say("Select some text first: Shift+arrows extend the selection.");
      return;
    }
    var moves = {
      ArrowRight: ["forward", "character"],
      ArrowLeft: ["backward", "character"],
      ArrowDown: ["forward", "line"],
      ArrowUp: ["backward", "line"],
      Home: ["backward", "lineboundary"],
      End: ["forward", "lineboundary"],
    };
    var move = moves[event.key];
    if (move) {
      event.preventDefault();
      var granularity = event.ctrlKey || event.altKey ? (move[1] === "character" ? "word" : move[1]) : move[1];
      var saved = [selection.anchorNode, selection.anchorOffset, selection.focusNode, selection.focusOffset];
      selection.modify(event.shiftKey ? "extend" : "move", move[0], granularity);
      keepSelectionInside(text, saved);
      return;
    }
    if (event.key.length === 1 && !event.ctrlKey && !event.metaKey) event.preventDefault();
  }

  function markSpan(item) {
    var span = selectedSpan(item);
    if (span) {
      askCategory(item, span);
      return;
    }
    var focused = document.activeElement && document.activeElement.closest("[data-response]");
    var text = (focused && item.contains(focused) && focused.querySelector("[data-text]")) || item.querySelector("[data-text]");
    if (text) startSelecting(item, text);
  }

  function askCategory(item, span) {
    var dialog = item.querySelector('[data-dialog="span"]');
    dialog.querySelector("[data-span-quote]").textContent = span.quote;
    dialog.querySelector("[data-span-note]").value = "";
    dialog._span = span;
    dialog.showModal();
    dialog.querySelector("[data-span-category]").focus();
  }

  // ---------------------------------------------------------------- ranking

  function rankItems(item) {
    return Array.from(item.querySelectorAll("[data-ranking-list] > [data-response]"));
  }

  function syncRanking(item) {
    var rows = rankItems(item);
    rows.forEach(function (row, index) {
      var badge = row.querySelector("[data-rank]");
      if (badge) badge.textContent = index + 1;
    });
    item.querySelector("[data-ranking]").value = rows
      .map(function (row) {
        return row.dataset.response;
      })
      .join(",");
  }

  function moveRank(item, row, delta) {
    var rows = rankItems(item);
    var index = rows.indexOf(row);
    var target = index + delta;
    if (index < 0 || target < 0 || target >= rows.length) return;
    var list = row.parentNode;
    if (delta < 0) list.insertBefore(row, rows[target]);
    else list.insertBefore(row, rows[target].nextSibling);
    syncRanking(item);
    row.focus();
    showHint("Response " + row.dataset.position + " is now ranked " + (target + 1) + " of " + rows.length + ".");
  }

  function focusRank(item, delta) {
    var rows = rankItems(item);
    if (!rows.length) return;
    var index = rows.indexOf(document.activeElement);
    var target = index < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, index + delta));
    rows[target].focus();
  }

  function setUpDragging(item) {
    var list = item.querySelector("[data-ranking-list]");
    if (!list) return;
    var dragged = null;
    list.addEventListener("dragstart", function (event) {
      // Only the header is draggable, so the text can still be selected with the mouse.
      dragged = event.target.closest && event.target.closest("[data-response]");
      if (!dragged) return;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.response);
      event.dataTransfer.setDragImage(dragged, 24, 24);
      dragged.classList.add("wb-dragging");
    });
    list.addEventListener("dragover", function (event) {
      if (!dragged) return;
      event.preventDefault();
      var over = event.target.closest("[data-response]");
      if (!over || over === dragged) return;
      var box = over.getBoundingClientRect();
      var after = event.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextSibling : over);
    });
    list.addEventListener("drop", function (event) {
      event.preventDefault();
    });
    list.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("wb-dragging");
      dragged = null;
      syncRanking(item);
    });
  }

  // ---------------------------------------------------------------- choices

  function check(item, selector) {
    var input = item.querySelector(selector);
    if (!input || input.disabled) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function syncStrength(item) {
    var choice = item.querySelector('input[name="choice"]:checked');
    var off = !!choice && (choice.value === "tie" || choice.value === "both_bad");
    item.querySelectorAll('input[name="strength"]').forEach(function (input) {
      input.disabled = off;
      if (off) input.checked = false;
    });
    var fieldset = item.querySelector("[data-strength]");
    if (fieldset) fieldset.classList.toggle("wb-off", off);
  }

  function chooseStrength(item, index) {
    var inputs = item.querySelectorAll('input[name="strength"]');
    if (index >= inputs.length) return;
    if (inputs[index].disabled) {
      say("A strength goes with Response 1 or 2 being better, not with a tie or both bad.", "info");
      return;
    }
    inputs[index].checked = true;
  }

  function rateFocused(input, digit) {
    var group = Array.from(input.form.querySelectorAll("input[data-rating]")).filter(function (other) {
      return other.name === input.name;
    });
    var chosen = group.find(function (other) {
      return other.value === digit;
    });
    if (!chosen) return false;
    chosen.checked = true;
    var all = Array.from(input.form.querySelectorAll("[data-rating-group]"));
    var next = all[all.indexOf(chosen.closest("[data-rating-group]")) + 1];
    if (next) (next.querySelector("input:checked") || next.querySelector("input")).focus();
    else chosen.focus();
    return true;
  }

  function focusRatings(item) {
    var groups = Array.from(item.querySelectorAll("[data-rating-group]"));
    if (!groups.length) return;
    var open = groups.find(function (group) {
      return !group.querySelector("input:checked");
    });
    var group = open || groups[0];
    (group.querySelector("input:checked") || group.querySelector("input")).focus();
    showHint("Type a score; focus moves to the next criterion. Esc leaves the ratings.");
  }

  // ---------------------------------------------------------------- items

  function activate(item, options) {
    options = options || {};
    stopSelecting();
    showHint("");
    if (!item.dataset.ready && item.dataset.assignment) {
      item.dataset.ready = "1";
      modelText.highlight(item);
      renderSpans(item);
      syncStrength(item);
      item.addEventListener("change", function (event) {
        if (event.target.name === "choice") syncStrength(item);
      });
      if (item.querySelector("[data-ranking-list]")) {
        syncRanking(item);
        setUpDragging(item);
      }
      var spanDialog = item.querySelector('[data-dialog="span"]');
      spanDialog.addEventListener("keydown", function (event) {
        // A <select> has no implicit submission: Enter on the category confirms too.
        if (event.key === "Enter" && event.target.tagName === "SELECT") {
          event.preventDefault();
          spanDialog.querySelector("[data-span-form]").requestSubmit();
        }
      });
      spanDialog.querySelector("[data-span-form]").addEventListener("submit", function (event) {
        event.preventDefault();
        var span = spanDialog._span;
        var category = spanDialog.querySelector("[data-span-category]").value.trim();
        if (!span || !category) return;
        var spans = spansOf(item);
        spans.push({
          response: span.response,
          start: span.start,
          end: span.end,
          category: category,
          note: spanDialog.querySelector("[data-span-note]").value.trim(),
        });
        spanDialog._span = null;
        spanDialog.close();
        window.getSelection().removeAllRanges();
        saveSpans(item, spans);
      });
    }
    if (item.dataset.assignment) startClock(item);
    if (options.scroll) {
      var top = box.getBoundingClientRect().top + window.scrollY - 16;
      if (window.scrollY > top) window.scrollTo(0, top);
    }
    item.focus({ preventScroll: true });
    if (nextItem && nextItem.id === idOf(item)) nextItem = null;
    if (!pending) prefetch();
  }

  function place(node) {
    box.replaceChildren(node);
    if (window.htmx) window.htmx.process(node);
  }

  function prefetch() {
    var item = current();
    var id = idOf(item);
    if (!id || nextItem || prefetching === id) return;
    prefetching = id;
    fetch(item.dataset.prefetchUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        prefetching = null;
        var node = parseFragment(html).body.firstElementChild;
        if (!node || pending) return;
        var shown = current();
        if (idOf(shown) !== id) return; // the page moved on; a later prefetch will ask again
        if (node.dataset.assignment && node.dataset.assignment === id) return;
        nextItem = { id: idOf(node), node: document.adoptNode(node) };
      })
      .catch(function () {
        prefetching = null; // the submit will bring the next item instead
      });
  }

  function loadingNode() {
    var node = document.createElement("div");
    node.className = "card empty wb-loading";
    node.setAttribute("data-loading", "");
    node.textContent = "Saving and loading the next item…";
    return node;
  }

  function problemWith(item) {
    var form = item.querySelector("[data-submit-form]");
    if (item.dataset.kind === "pair" && !form.querySelector('input[name="choice"]:checked')) {
      return "Pick a choice first: 1, 2, t (tie) or x (both bad).";
    }
    var rationale = form.querySelector("[data-rationale]");
    if (item.dataset.rationaleRequired === "true" && !rationale.value.trim()) {
      rationale.focus();
      return "This project asks for a short rationale (r).";
    }
    return null;
  }

  function queueSubmit(item) {
    if (queued === item) {
      say("This judgment is already queued: it is sent as soon as the previous one is saved.", "info");
      return;
    }
    var problem = problemWith(item);
    if (problem) {
      say(problem);
      return;
    }
    clearAlert();
    stopSelecting();
    stopClock(item);
    queued = item;
    item.setAttribute("data-queued", "");
    // Inert: no click or focus changes what was queued (FormData still reads it).
    item.querySelector("[data-submit-form]").inert = true;
    var notice = document.createElement("div");
    notice.className = "alert alert-info";
    notice.setAttribute("role", "status");
    notice.setAttribute("data-queued-notice", "");
    notice.textContent = "Queued: this judgment is sent as soon as the previous one is saved.";
    item.querySelector(".wb-notice").appendChild(notice);
  }

  function unqueue() {
    var item = queued;
    queued = null;
    if (!item) return null;
    item.removeAttribute("data-queued");
    item.querySelector("[data-submit-form]").inert = false;
    var notice = item.querySelector("[data-queued-notice]");
    if (notice) notice.remove();
    return item;
  }

  function submit(item) {
    if (!item || !item.dataset.assignment) {
      if (pending) say("Not applied: the next item is still loading. Press the key again once it is on screen.", "info");
      return;
    }
    if (pending) {
      queueSubmit(item);
      return;
    }
    var form = item.querySelector("[data-submit-form]");
    var problem = problemWith(item);
    if (problem) {
      say(problem);
      return;
    }
    clearAlert();
    stopSelecting();
    stopClock(item);
    form.querySelector("[data-seconds]").value = spentSeconds(item).toFixed(3);
    var body = new URLSearchParams(new FormData(form));
    form.querySelector("[data-submit]").disabled = true;
    // A judgment that replaces an undone one does not add to today's count.
    var counted = item.hasAttribute("data-reopened") ? 0 : 1;
    pending = { item: item, counted: counted };
    root.setAttribute("data-busy", "");
    item.remove();
    if (nextItem) {
      var node = nextItem.node;
      nextItem = null;
      place(node);
      activate(node, { scroll: true });
    } else {
      place(loadingNode());
    }
    bumpProgress(counted);
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    })
      .then(function (response) {
        return response.text().then(function (text) {
          return { status: response.status, ok: response.ok, text: text };
        });
      })
      .then(
        function (result) {
          if (result.ok) succeeded(result.text);
          else failed(item, messageFor(result));
        },
        function () {
          failed(item, "Could not reach the server: this judgment is not saved yet. Press Enter to send it again.");
        }
      );
  }

  function messageFor(result) {
    if (result.status === 422) {
      var alert = parseFragment(result.text).querySelector(".alert");
      if (alert) return alert.textContent.trim();
    }
    if (result.status === 403) return "Your role in this project does not allow this.";
    if (result.status === 404) return "This item is no longer assigned to you. Reload the page.";
    return "Something went wrong (" + result.status + "); the judgment is not saved. Press Enter to try again.";
  }

  function succeeded(html) {
    pending = null;
    root.removeAttribute("data-busy");
    var doc = parseFragment(html);
    replaceStatus(doc);
    var fresh = doc.querySelector("[data-assignment], [data-empty]");
    var shown = current();
    var next = unqueue();
    if (next && next === shown) {
      submit(next); // the judgment queued meanwhile; its answer brings the item after it
      return;
    }
    // The item already on screen (prefetched) stays, with whatever the annotator has
    // done to it. The server's answer replaces only a placeholder, or an empty queue
    // when the server did find something after all.
    var replace =
      !shown ||
      shown.hasAttribute("data-loading") ||
      (shown.hasAttribute("data-empty") && fresh && fresh.hasAttribute("data-assignment"));
    if (replace && fresh) {
      var node = document.adoptNode(fresh);
      place(node);
      activate(node, { scroll: true });
      return;
    }
    prefetch();
  }

  function failed(item, message) {
    var counted = pending ? pending.counted : 0;
    pending = null;
    root.removeAttribute("data-busy");
    var shown = current();
    if (unqueue()) {
      message += " The next judgment you queued was not sent: it comes back after this one.";
    }
    if (shown && shown.dataset.assignment) {
      stopClock(shown);
      shown.remove();
      nextItem = { id: idOf(shown), node: shown };
    }
    item.querySelector("[data-submit]").disabled = false;
    place(item);
    activate(item, { scroll: true });
    bumpProgress(-counted);
    say(message);
  }

  // ---------------------------------------------------------------- dialogs

  function refuseWhileSaving(action) {
    var what = { skip: "skip this item", flag: "flag this item", undo: "undo" }[action] || "do it";
    say("Not done: the previous judgment is still being saved. Press the key again to " + what + " once it is.", "info");
  }

  function openItemDialog(item, name) {
    var dialog = item.querySelector('[data-dialog="' + name + '"]');
    if (!dialog) return;
    stopSelecting();
    dialog.showModal();
    var input = dialog.querySelector("input:not([type=hidden]), select, textarea");
    if (input) input.focus();
  }

  function toggleKeymap() {
    if (keymap.open) keymap.close();
    else keymap.showModal();
  }

  root.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      if (pending) refuseWhileSaving(opener.dataset.openDialog);
      else openItemDialog(opener.closest("[data-assignment]"), opener.dataset.openDialog);
      return;
    }
    if (event.target.closest("[data-open-keymap]")) {
      toggleKeymap();
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });

  root.addEventListener("close", function (event) {
    var item = current();
    if (event.target.tagName === "DIALOG" && item && !openDialog()) item.focus({ preventScroll: true });
  }, true);

  root.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("[data-submit-form]")) {
      event.preventDefault();
      submit(form.closest("[data-assignment]"));
    }
  });

  // ---------------------------------------------------------------- htmx actions

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var dialog = elt.closest && elt.closest("dialog");
    if (dialog) {
      if (pending) {
        event.preventDefault();
        dialog.close();
        refuseWhileSaving(dialog.dataset.dialog);
        return;
      }
      clearAlert();
    }
    if (elt.matches && elt.matches("[data-undo-form]")) {
      if (pending) {
        event.preventDefault();
        refuseWhileSaving("undo");
        return;
      }
      clearAlert();
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = event.detail.elt.closest && event.detail.elt.closest("dialog");
    if (dialog && dialog.open) dialog.close();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target !== box || !event.detail.shouldSwap) return;
    var shown = current();
    if (!shown) return;
    stopClock(shown);
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    // Undo brings back an earlier item: keep the one on screen, with what was entered,
    // as the next one.
    if (elt && elt.matches && elt.matches("[data-undo-form]") && shown.dataset.assignment) {
      shown.remove();
      nextItem = { id: idOf(shown), node: shown };
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== box) return;
    var item = current();
    if (item) activate(item, { scroll: true });
  });

  // ---------------------------------------------------------------- keyboard

  var STRENGTH_LETTERS = { a: 0, b: 1, c: 2, d: 3 };
  // Keys that act on the item on screen (Shift+digits are matched by their code).
  var ITEM_KEYS = /^(Enter|[12txabcdgrmsfjkJK]|ArrowLeft|ArrowRight|ArrowUp|ArrowDown)$/;

  function isItemKey(event) {
    return ITEM_KEYS.test(event.key) || /^Digit[0-9]$/.test(event.code);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var item = current();
    var real = item && item.dataset.assignment ? item : null;
    var target = event.target;

    if (selecting) {
      onSelectingKey(event);
      return;
    }
    var dialog = openDialog();
    if (dialog) {
      if (dialog === keymap && event.key === "?") {
        event.preventDefault();
        keymap.close();
      }
      return; // Esc closes dialogs natively; everything else is typing
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit(real);
      return;
    }
    if (event.key === "Escape") {
      if (isTyping(target) || target.matches("input[data-rating]") || target.closest("[data-ranking-list]")) {
        target.blur();
        if (real) real.focus({ preventScroll: true });
      }
      window.getSelection().removeAllRanges();
      showHint("");
      return;
    }
    if (isTyping(target) || event.metaKey || (event.ctrlKey && event.key !== "Enter")) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleKeymap();
      return;
    }
    if (event.key === "h" && !event.altKey) {
      var details = root.querySelector("[data-guidelines]");
      if (details) {
        event.preventDefault();
        details.open = !details.open;
      }
      return;
    }
    if (event.key === "u" && !event.altKey) {
      var undo = root.querySelector("[data-undo-form]");
      event.preventDefault();
      if (pending) refuseWhileSaving("undo");
      else if (undo) undo.requestSubmit();
      else say("There is no recent judgment to undo.", "info");
      return;
    }
    if (!real) {
      if (pending && isItemKey(event)) {
        event.preventDefault();
        submit(null); // says the item is still loading
      }
      return;
    }
    if (real === queued && isItemKey(event)) {
      event.preventDefault();
      if (event.key === "Enter") submit(real); // says it is queued already
      else say("Not applied: this judgment is queued as it stands; it is sent as soon as the previous one is saved.", "info");
      return;
    }

    if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
      if (target.closest("button, a, summary, select")) return; // activates what has focus
      event.preventDefault();
      submit(real);
      return;
    }

    // A digit on a focused rating sets that rating.
    if (target.matches && target.matches("input[data-rating]") && /^[0-9]$/.test(event.key) && !event.shiftKey) {
      if (rateFocused(target, event.key)) event.preventDefault();
      return;
    }

    var isRanking = real.dataset.kind === "ranking";
    var onRow = isRanking && target.matches("[data-ranking-list] > [data-response]");
    if (isRanking) {
      if (onRow && (event.shiftKey || event.altKey) && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
        event.preventDefault();
        moveRank(real, target, event.key === "ArrowUp" ? -1 : 1);
        return;
      }
      if (onRow && (event.key === "K" || event.key === "J")) {
        event.preventDefault();
        moveRank(real, target, event.key === "K" ? -1 : 1);
        return;
      }
      if (event.key === "j" || event.key === "k" || (!target.matches("input") && (event.key === "ArrowDown" || event.key === "ArrowUp") && !event.shiftKey)) {
        event.preventDefault();
        focusRank(real, event.key === "k" || event.key === "ArrowUp" ? -1 : 1);
        return;
      }
    }

    if (!isRanking && event.shiftKey && /^Digit[0-9]$/.test(event.code)) {
      event.preventDefault();
      var digit = parseInt(event.code.slice(5), 10);
      chooseStrength(real, digit === 0 ? 9 : digit - 1);
      return;
    }
    if (event.altKey || event.shiftKey) return;

    var onRadio = target.matches && target.matches("input[type=radio]");
    switch (event.key) {
      case "1":
        if (!isRanking && check(real, 'input[name="choice"][value="left"]')) event.preventDefault();
        return;
      case "2":
        if (!isRanking && check(real, 'input[name="choice"][value="right"]')) event.preventDefault();
        return;
      case "ArrowLeft":
      case "ArrowRight":
        if (isRanking || onRadio) return;
        event.preventDefault();
        check(real, 'input[name="choice"][value="' + (event.key === "ArrowLeft" ? "left" : "right") + '"]');
        return;
      case "t":
        if (!isRanking && check(real, 'input[name="choice"][value="tie"]')) event.preventDefault();
        return;
      case "x":
        if (!isRanking && check(real, 'input[name="choice"][value="both_bad"]')) event.preventDefault();
        return;
      case "a":
      case "b":
      case "c":
      case "d":
        if (isRanking) return;
        event.preventDefault();
        chooseStrength(real, STRENGTH_LETTERS[event.key]);
        return;
      case "g":
        event.preventDefault();
        focusRatings(real);
        return;
      case "r":
        event.preventDefault();
        real.querySelector("[data-rationale]").focus();
        return;
      case "m":
        event.preventDefault();
        markSpan(real);
        return;
      case "s":
        event.preventDefault();
        if (pending) refuseWhileSaving("skip");
        else openItemDialog(real, "skip");
        return;
      case "f":
        event.preventDefault();
        if (pending) refuseWhileSaving("flag");
        else openItemDialog(real, "flag");
        return;
    }
  });

  // ---------------------------------------------------------------- start

  var first = current();
  if (first) activate(first);
})();
