// /api/docs: the operations are server-rendered; Swagger UI (vendored, ~1.4 MB) loads only when
// the reader asks for the explorer, so the page itself stays light (Lighthouse mobile). A file,
// not an inline script, so the Content-Security-Policy needs no exception (web/security.py).
(function () {
  var button = document.getElementById("open-explorer");
  if (!button) return;

  // Only the operations, without Swagger UI's own title and <main>: this page has both already
  // (axe-core: landmark-no-duplicate-main, heading-order).
  function OperationsOnly(system) {
    var React = system.React;
    return {
      components: {
        OperationsOnlyLayout: function (props) {
          var Operations = props.getComponent("operations", true);
          return React.createElement("div", { className: "swagger-ui" }, React.createElement(Operations, null));
        },
      },
    };
  }

  function start() {
    window.ui = SwaggerUIBundle({
      url: button.dataset.openapiUrl,
      dom_id: "#swagger-ui",
      layout: "OperationsOnlyLayout",
      presets: [SwaggerUIBundle.presets.apis],
      plugins: [OperationsOnly],
      // No deep links: they put a link inside each operation's toggle button, a control
      // inside a control that screen readers cannot reach (axe-core: nested-interactive).
      deepLinking: false,
      showExtensions: true,
      showCommonExtensions: true,
      validatorUrl: null, // no badge fetched from the Swagger validator's host
    });
    document.documentElement.dataset.explorer = "ready";
  }

  function stylesheet(href) {
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    button.textContent = "Loading the explorer…";
    stylesheet(button.dataset.style);
    stylesheet(button.dataset.overrides);
    var script = document.createElement("script");
    script.src = button.dataset.script;
    script.onload = function () {
      start();
      button.hidden = true;
    };
    document.body.appendChild(script);
  });
})();
