// The [[pay]] options: keeps #total in step with the chosen tip (pay.css already shows each
// method's option for that tip, with or without this script) and makes the copy buttons work.
// Nothing is formatted here: each tip radio carries its total, each button the text it copies.
(function () {
  'use strict';
  var options = document.getElementById('pay-options');
  if (!options) return;
  var total = document.getElementById('total');

  function showTotalFor(radio) {
    if (!radio || radio.name !== 'tip' || !radio.checked) return;
    if (total && radio.dataset.total) total.textContent = radio.dataset.total;
  }

  // The tip choices sit above the options, in the same section (#payment).
  var section = document.getElementById('payment') || options;
  section.addEventListener('change', function (event) { showTotalFor(event.target); });
  showTotalFor(section.querySelector('input[name="tip"]:checked'));

  if (!navigator.clipboard) return;
  var buttons = options.querySelectorAll('button[data-copy]');
  Array.prototype.forEach.call(buttons, function (button) {
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(button.dataset.copy).then(function () {
        button.textContent = button.dataset.copied || label;
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
})();
