// Layan's dashboard: live parts of a page. An element with data-live="URL"
// is replaced by what the server sends on that event stream (server-rendered,
// already escaped HTML). Nothing else runs here; every page works without it.
"use strict";
document.querySelectorAll("[data-live]").forEach(function (el) {
  var source = new EventSource(el.getAttribute("data-live"));
  source.onmessage = function (e) {
    var focused = document.activeElement && el.contains(document.activeElement)
      ? document.activeElement.id : null;
    el.innerHTML = e.data;
    el.setAttribute("data-updated", String(Date.now()));
    if (focused) { var f = document.getElementById(focused); if (f) f.focus(); }
  };
});
