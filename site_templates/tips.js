// Keeps the total and the pay button's words in step with the chosen tip. The page
// works without this: the server-rendered total is the no-tip total. Each tip radio
// carries its total (data-total) and the button's words for it (data-pay), already
// formatted and translated, so nothing is formatted here.
(function () {
  'use strict';
  var form = document.getElementById('payment-form');
  var total = document.getElementById('total');
  var button = document.getElementById('pay-button');
  if (!form || !total) return;

  function showTotalFor(radio) {
    if (!radio || radio.name !== 'tip' || !radio.checked) return;
    if (radio.dataset.total) total.textContent = radio.dataset.total;
    if (button && radio.dataset.pay) button.textContent = radio.dataset.pay;
  }

  form.addEventListener('change', function (event) { showTotalFor(event.target); });
  // A restored form (back/forward navigation) may have another tip checked.
  showTotalFor(form.querySelector('input[name="tip"]:checked'));
})();
