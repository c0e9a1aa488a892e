// Render the math spans the server marked (see dailypapers/web/mathtext.py) with bundled KaTeX.
// KaTeX (~300 KB of script, style and fonts) is fetched only by pages that have math, once a
// formula is near the viewport: on the others it was a download for nothing (Lighthouse mobile).
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

  // KaTeX is fetched when the first formula comes within a screen of the viewport, not on
  // load: a month's top 30 with one formula in card 21 no longer downloads, compiles and runs
  // ~300 KB of script before the reader scrolls there (Lighthouse mobile: TBT and LCP). Then
  // every formula on the page is typeset, as before (data-math is "deferred" until then).
  function whenSeen() {
    var spans = document.querySelectorAll("span.math");
    if (!spans.length || !("IntersectionObserver" in window)) {
      start();
      return;
    }
    root.dataset.math = "deferred";
    var observer = new IntersectionObserver(function (entries) {
      for (var i = 0; i < entries.length; i++) {
        if (entries[i].isIntersecting) {
          observer.disconnect();
          start();
          return;
        }
      }
    }, { rootMargin: "100% 0px" });
    for (var i = 0; i < spans.length; i++) observer.observe(spans[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", whenSeen);
  } else {
    whenSeen();
  }
})();
