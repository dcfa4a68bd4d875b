// Highlight the card the visitor points at.
document.querySelectorAll(".card").forEach(function (card) {
  card.addEventListener("mouseenter", function () { card.classList.add("hover"); });
  card.addEventListener("mouseleave", function () { card.classList.remove("hover"); });
});

function highlightPopular() {
  var pro = document.querySelectorAll(".card")[1];
  if (pro) { pro.classList.add("popular"); }
}
highlightPopular();
