// In-page charts of the explorers' precomputed sweeps (recsys_lab/charts.py writes them as
// <div class="recsys-chart"> holding the Vega-Lite spec as JSON). This draws each one with the
// Vega scripts served from _static/npm/, so no request leaves the host and a page opened from
// file:// works too. The charts follow the theme's light/dark switch.
(function () {
  "use strict";
  if (!document.currentScript) {
    return;
  }
  var npm = document.currentScript.src.replace(/[^/]*$/, "npm/");
  var files = ["vega/vega.min", "vega-lite/vega-lite.min", "vega-embed/vega-embed.min"];

  function dark() {
    return document.documentElement.dataset.theme === "dark";
  }

  function draw(vegaEmbed, chart) {
    var spec = JSON.parse(chart.querySelector("script[type='application/json']").textContent);
    var target = chart.querySelector(".recsys-chart-view");
    if (!target) {
      target = document.createElement("div");
      target.className = "recsys-chart-view";
      chart.appendChild(target);
    }
    if (chart._view) {
      chart._view.finalize();
    }
    var options = { actions: false, renderer: "svg" };
    if (dark()) {
      options.theme = "dark";
      options.config = { text: { color: "#ddd" } };  // the dark theme leaves text marks black
    }
    vegaEmbed(target, spec, options).then(function (result) {
      chart._view = result.view;
      chart.dataset.rendered = "true";
    }).catch(function (error) {
      chart.dataset.rendered = "error";
      console.error("chart failed to draw:", error);
    });
  }

  function drawAll(vegaEmbed) {
    var charts = document.querySelectorAll(".recsys-chart");
    charts.forEach(function (chart) { draw(vegaEmbed, chart); });
    new MutationObserver(function () {
      charts.forEach(function (chart) { draw(vegaEmbed, chart); });
    }).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  }

  function loadInOrder(index, done) {
    if (index === files.length) {
      done();
      return;
    }
    var script = document.createElement("script");
    script.src = npm + files[index] + ".js";
    script.onload = function () { loadInOrder(index + 1, done); };
    script.onerror = function () { console.error("could not load " + script.src); };
    document.head.appendChild(script);
  }

  function start() {
    if (!document.querySelector(".recsys-chart")) {
      return;
    }
    if (typeof window.define === "function" && window.define.amd && window.require) {
      // With require.js on the page (the widgets use it), the scripts register as AMD modules
      // instead of globals.
      window.require.config({ paths: {
        "vega": npm + files[0], "vega-lite": npm + files[1], "vega-embed": npm + files[2] } });
      window.require(["vega-embed"], drawAll);
    } else {
      loadInOrder(0, function () { drawAll(window.vegaEmbed); });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
