// Model output on the page: code highlighting, and span offsets into the raw text.
//
// The server renders model text (apps/core/rendering.py) as Markdown, or as raw text for
// people who chose that; either way every verbatim run of the raw text sits in an element
// with `data-o`, its start in the raw text in code points. Here a selection in the
// rendered text becomes raw offsets, and stored spans ({start, end} in raw code points)
// are marked on the rendered text. Text that is not verbatim (an entity, a line break
// between blocks) has no offset: a selection that starts or ends in it is moved to the
// nearest verbatim text.
//
// window.PalateText is used by workbench.js; on other pages, elements with
// data-span-marks (a JSON list of spans) get their spans marked on load.
(function () {
  "use strict";

  var pristine = new WeakMap(); // element → its children before any mark

  // Highlight fenced code blocks whose language highlight.js knows. Each keeps its one
  // offset (on the <code>): highlighting rewrites the inside, not the text.
  function highlight(root) {
    if (!window.hljs) return;
    root.querySelectorAll("pre > code[data-o][class*='language-']:not([data-highlighted])").forEach(function (code) {
      var match = /(?:^|\s)language-(\S+)/.exec(code.className);
      if (match && window.hljs.getLanguage(match[1])) window.hljs.highlightElement(code);
    });
  }

  function codePoints(text) {
    return Array.from(text).length;
  }

  // The text nodes of `el` in order, each with its start in the raw text (or null).
  function runs(el) {
    var out = [];
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    var anchor = null;
    var at = 0;
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      var found = node.parentNode.closest("[data-o]");
      var length = codePoints(node.data);
      if (!found || !el.contains(found)) {
        out.push({ node: node, start: null, length: length });
        continue;
      }
      if (found !== anchor) {
        anchor = found;
        at = parseInt(found.dataset.o, 10);
      }
      out.push({ node: node, start: at, length: length });
      at += length;
    }
    return out;
  }

  // The index in `list` of the text node at or after a boundary point, and the offset in it.
  function textPoint(list, container, offset) {
    if (container.nodeType === Node.TEXT_NODE) {
      for (var i = 0; i < list.length; i += 1) {
        if (list[i].node === container) return { index: i, units: offset };
      }
      return null;
    }
    var point = document.createRange();
    point.setStart(container, offset);
    for (var j = 0; j < list.length; j += 1) {
      if (point.comparePoint(list[j].node, 0) >= 0) return { index: j, units: 0 };
    }
    return list.length ? { index: list.length - 1, units: list[list.length - 1].node.data.length } : null;
  }

  function rawOffset(list, container, offset, isEnd) {
    var at = textPoint(list, container, offset);
    if (!at) return null;
    var run = list[at.index];
    if (run.start !== null) return run.start + codePoints(run.node.data.slice(0, at.units));
    var k;
    if (isEnd) {
      for (k = at.index - 1; k >= 0; k -= 1) if (list[k].start !== null) return list[k].start + list[k].length;
    } else {
      for (k = at.index + 1; k < list.length; k += 1) if (list[k].start !== null) return list[k].start;
    }
    return null;
  }

  // A DOM range inside `el` as {start, end, quote}: raw code point offsets and the text
  // as shown; null when it covers no raw text.
  function offsetsOf(el, range) {
    var whole = document.createRange();
    whole.selectNodeContents(el);
    var part = range.cloneRange();
    if (part.compareBoundaryPoints(Range.START_TO_START, whole) < 0) part.setStart(whole.startContainer, whole.startOffset);
    if (part.compareBoundaryPoints(Range.END_TO_END, whole) > 0) part.setEnd(whole.endContainer, whole.endOffset);
    var list = runs(el);
    var start = rawOffset(list, part.startContainer, part.startOffset, false);
    var end = rawOffset(list, part.endContainer, part.endOffset, true);
    if (start === null || end === null || end <= start) return null;
    return { start: start, end: end, quote: part.toString() };
  }

  function restore(el) {
    if (!pristine.has(el)) {
      pristine.set(el, Array.from(el.childNodes, function (node) {
        return node.cloneNode(true);
      }));
      return;
    }
    el.replaceChildren.apply(el, pristine.get(el).map(function (node) {
      return node.cloneNode(true);
    }));
  }

  // Mark `spans` ([{start, end, index, title}], raw code points) on the text of `el`: each
  // covered piece of verbatim text goes in a <mark data-span="i j"> of the spans covering it.
  function mark(el, spans) {
    restore(el);
    if (!spans.length) return;
    runs(el).forEach(function (run) {
      if (run.start === null) return;
      var runEnd = run.start + run.length;
      var mine = spans.filter(function (s) {
        return s.start < runEnd && s.end > run.start;
      });
      if (!mine.length) return;
      var cuts = [run.start, runEnd];
      mine.forEach(function (s) {
        cuts.push(Math.max(s.start, run.start), Math.min(s.end, runEnd));
      });
      cuts = Array.from(new Set(cuts)).sort(function (x, y) {
        return x - y;
      });
      var chars = Array.from(run.node.data);
      var fragment = document.createDocumentFragment();
      for (var i = 0; i + 1 < cuts.length; i += 1) {
        var from = cuts[i];
        var to = cuts[i + 1];
        var piece = chars.slice(from - run.start, to - run.start).join("");
        var covering = mine.filter(function (s) {
          return s.start <= from && to <= s.end;
        });
        if (!covering.length) {
          fragment.appendChild(document.createTextNode(piece));
          continue;
        }
        var node = document.createElement("mark");
        node.className = "wb-mark";
        node.dataset.span = covering.map(function (s) {
          return s.index;
        }).join(" ");
        node.title = covering.map(function (s) {
          return s.title;
        }).join("; ");
        node.textContent = piece;
        fragment.appendChild(node);
      }
      run.node.replaceWith(fragment);
    });
  }

  // The marked text of span `index` in `el`, as shown.
  function quoteOf(el, index) {
    return Array.from(el.querySelectorAll("mark[data-span]"))
      .filter(function (node) {
        return node.dataset.span.split(" ").indexOf(String(index)) !== -1;
      })
      .map(function (node) {
        return node.textContent;
      })
      .join("");
  }

  window.PalateText = { highlight: highlight, offsetsOf: offsetsOf, mark: mark, quoteOf: quoteOf };

  function start() {
    highlight(document);
    document.querySelectorAll("[data-span-marks]").forEach(function (holder) {
      var el = holder.querySelector("[data-text]");
      if (!el) return;
      try {
        var spans = JSON.parse(holder.dataset.spanMarks);
        mark(el, spans.map(function (s, index) {
          return { start: s.start, end: s.end, index: index, title: s.title || "" };
        }));
      } catch (error) {
        // Spans that cannot be read are not marked; the list beside the text shows them.
      }
    });
  }

  // Parts of pages that htmx brings in (the inspector's panels, a workbench item).
  document.addEventListener("htmx:afterSettle", function (event) {
    highlight(event.detail.elt && event.detail.elt.querySelectorAll ? event.detail.elt : document);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
