// Applies the saved theme before the page paints (no flash).
(function () {
  var t = null;
  try { t = localStorage.getItem("maid-theme"); } catch (e) { t = null; }
  if (t !== "light" && t !== "dark") {
    t = window.matchMedia && window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
  }
  document.documentElement.setAttribute("data-theme", t);
})();
