// Highlight the card the visitor points at.
document.querySelectorAll(".card").forEach(function (card) {
  card.addEventListener("mouseenter", function () { card.classList.add("hover"); });
  card.addEventListener("mouseleave", function () { card.classList.remove("hover"); });
});
highlightPopular();
