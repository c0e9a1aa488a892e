// Start the vendored Swagger UI on /api/docs. A file, not an inline script, so the
// Content-Security-Policy needs no exception (dailypapers/web/security.py).
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // no badge fetched from the Swagger validator's host
  });
})();
