// Mermaid diagrams for pages opened straight from disk (file:// URLs).
// sphinxcontrib-mermaid imports mermaid as an ES module, and browsers refuse
// module imports from file:// URLs. There, this loads mermaid's classic
// (non-module) build from the same local folder and draws the diagrams.
// Over http(s) it does nothing.
(function () {
  "use strict";
  if (window.location.protocol !== "file:" || !document.currentScript) {
    return;
  }
  var src = document.currentScript.src.replace(/[^/]*$/, "npm/mermaid/mermaid.min.js");
  // The spacing of mermaid_init_config in _config.yml (keep the two equal), which keeps the
  // diagrams' labels legible. Not its useMaxWidth: false, which relies on the stylesheet that
  // only the module script adds; mermaid's default max-width alone fits a diagram to the column.
  var config = {
    startOnLoad: false,
    flowchart: { nodeSpacing: 30, rankSpacing: 30, padding: 8, diagramPadding: 8 },
  };
  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll(".mermaid:not([data-processed])");
    if (!nodes.length) {
      return;
    }
    var script = document.createElement("script");
    script.src = src;
    script.onload = function () {
      window.mermaid.initialize(config);
      window.mermaid.run({ nodes: nodes });
    };
    document.head.appendChild(script);
  });
})();
