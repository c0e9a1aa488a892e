// Render the math spans the server marked (see dailypapers/web/mathtext.py) with bundled KaTeX.
// KaTeX (~300 KB of script, style and fonts) is fetched only by pages that have math: on the
// others it was a render-blocking stylesheet and a download for nothing (Lighthouse mobile).
(function () {
  var me = document.currentScript;
  var root = document.documentElement;

  // A few formulas a task, then yield: a page of 30 cards with math stays responsive (no long
  // task for Total Blocking Time), and the first formulas show without waiting for the last.
  function render() {
    var spans = Array.prototype.slice.call(document.querySelectorAll("span.math"));
    var next = 0;
    function chunk() {
      var until = performance.now() + 20;
      while (next < spans.length && (performance.now() < until || next === 0)) {
        var el = spans[next++];
        katex.render(el.textContent, el, {
          displayMode: el.dataset.display === "1",
          throwOnError: false,
          output: "htmlAndMathml",
        });
      }
      if (next < spans.length) {
        setTimeout(chunk, 0);
      } else {
        root.dataset.math = "ready";
      }
    }
    chunk();
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
    // Pages the server knows have math link the stylesheet in <head> (templates/base.html) as
    // media="print": fetched at once, yet not blocking the first paint (the raw TeX shows until
    // KaTeX has typeset it either way); it applies to the screen from here on.
    var link = document.querySelector('link[rel="stylesheet"][href="' + me.dataset.katexCss + '"]');
    if (link) link.media = "all";
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
