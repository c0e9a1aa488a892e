// Render the math spans the server marked (see dailypapers/web/mathtext.py) with bundled KaTeX.
// KaTeX (~300 KB of script, style and fonts) is fetched only by pages that have math: on the
// others it was a render-blocking stylesheet and a download for nothing (Lighthouse mobile).
(function () {
  var me = document.currentScript;
  var root = document.documentElement;

  function render() {
    document.querySelectorAll("span.math").forEach(function (el) {
      katex.render(el.textContent, el, {
        displayMode: el.dataset.display === "1",
        throwOnError: false,
        output: "htmlAndMathml",
      });
    });
    root.dataset.math = "ready";
  }

  function start() {
    if (!document.querySelector("span.math")) {
      root.dataset.math = "ready";
      return;
    }
    var pending = 2;
    function done() {
      pending -= 1;
      if (pending === 0) render();
    }
    // Pages the server knows have math link the stylesheet (and preload the script) in <head>.
    var link = document.querySelector('link[rel="stylesheet"][href="' + me.dataset.katexCss + '"]');
    if (link && link.sheet) {
      done();
    } else {
      link = link || document.createElement("link");
      link.rel = "stylesheet";
      link.href = me.dataset.katexCss;
      link.onload = link.onerror = done;  // render once styled: no jump from raw to typeset math
      if (!link.parentNode) document.head.appendChild(link);
    }
    var script = document.createElement("script");
    script.src = me.dataset.katexJs;
    script.onload = done;
    script.onerror = function () { root.dataset.math = "unavailable"; };
    document.head.appendChild(script);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
