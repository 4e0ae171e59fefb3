/* Copy buttons (templates/includes/hash.html): shown only where the browser can copy, and they say when they did. */
(function () {
  "use strict";
  if (!navigator.clipboard) {
    return;
  }
  document.querySelectorAll("button.copy-hash").forEach(function (button) {
    var label = button.innerHTML;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.dataset.copy).then(function () {
        button.textContent = "Copied";
        button.setAttribute("aria-live", "polite");
        window.setTimeout(function () { button.innerHTML = label; }, 2000);
      });
    });
  });
})();
