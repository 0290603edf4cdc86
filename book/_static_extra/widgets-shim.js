// Loaded between require.js and @jupyter-widgets/html-manager's embed-amd.js (nb_ipywidgets_js).
(function () {
  // embed-amd.js looks for its icon fonts next to its AMD module id, which require.js resolves
  // against the page (book/@jupyter-widgets/...): point the id at where they are served.
  var dist = new URL("npm/html-manager", document.currentScript.src).href;
  window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": dist } });
  // The widgets typeset their labels with MathJax 2's MathJax.Hub.Queue; the site runs MathJax 3.
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (mj && mj.startup && !mj.Hub) {
      mj.Hub = {
        Queue: function (job) {
          mj.startup.promise.then(function () { return mj.typesetPromise([job[2]]); });
        },
      };
    }
  });
})();
