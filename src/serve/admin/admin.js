// Layan's dashboard: live parts of a page. An element with data-live="URL"
// is replaced by what the server sends on that event stream (server-rendered,
// already escaped HTML). Nothing else runs here; every page works without it.
"use strict";
document.querySelectorAll("[data-live]").forEach(function (el) {
  var source = new EventSource(el.getAttribute("data-live"));
  source.onmessage = function (e) {
    // The first event repeats what the page was served with: leave the DOM
    // alone when nothing changed, so a link being clicked is not replaced.
    var next = document.createElement("template");
    next.innerHTML = e.data;
    if (next.innerHTML === el.innerHTML) return;
    var focused = document.activeElement && el.contains(document.activeElement)
      ? document.activeElement.id : null;
    el.innerHTML = e.data;
    el.setAttribute("data-updated", String(Date.now()));
    if (focused) { var f = document.getElementById(focused); if (f) f.focus(); }
  };
});
