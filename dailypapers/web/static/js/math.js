// Render the math spans the server marked (see dailypapers/web/mathtext.py) with bundled KaTeX.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof katex === "undefined") return;
  document.querySelectorAll("span.math").forEach(function (el) {
    katex.render(el.textContent, el, {
      displayMode: el.dataset.display === "1",
      throwOnError: false,
      output: "htmlAndMathml",
    });
  });
  document.documentElement.dataset.math = "ready";
});
