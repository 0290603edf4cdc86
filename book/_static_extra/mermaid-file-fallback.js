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
  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll(".mermaid:not([data-processed])");
    if (!nodes.length) {
      return;
    }
    var script = document.createElement("script");
    script.src = src;
    script.onload = function () {
      window.mermaid.initialize({ startOnLoad: false });
      window.mermaid.run({ nodes: nodes });
    };
    document.head.appendChild(script);
  });
})();
