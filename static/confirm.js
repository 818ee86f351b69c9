// Ask before a destructive button (data-confirm="question") submits its form. Without JavaScript the
// button works as is.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});
