// Keeps the "Total" line in step with the chosen tip. The page works without
// this: the server-rendered total is the no-tip total and the form is not live.
(function () {
  'use strict';
  var form = document.getElementById('payment-form');
  var total = document.getElementById('total');
  if (!form || !total) return;

  function showTotalFor(radio) {
    if (radio && radio.name === 'tip' && radio.checked && radio.dataset.total) {
      total.textContent = radio.dataset.total;
    }
  }

  form.addEventListener('change', function (event) { showTotalFor(event.target); });
  // A restored form (back/forward navigation) may have another tip checked.
  showTotalFor(form.querySelector('input[name="tip"]:checked'));
})();
