// Start the vendored Swagger UI on /api/docs. A file, not an inline script, so the
// Content-Security-Policy needs no exception (dailypapers/web/security.py).
(function () {
  // Swagger UI leaves its title outside any landmark (its operations are a <main>), and its
  // headings go from the title (h1) to the tags (h3). A named region around the title and an h2
  // "Operations" fix both (axe-core: region, heading-order).
  function OperationsHeading() {
    return {
      wrapComponents: {
        InfoContainer: function (Original, system) {
          var React = system.React;
          return function (props) {
            return React.createElement("div", { role: "region", "aria-label": "About this API" },
              React.createElement(Original, props),
              React.createElement("h2", { className: "operations-heading" }, "Operations"));
          };
        },
      },
    };
  }
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [OperationsHeading],
    // No deep links: they put a link inside each operation's toggle button, a control inside
    // a control that screen readers cannot reach (axe-core: nested-interactive).
    deepLinking: false,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // no badge fetched from the Swagger validator's host
  });
})();
