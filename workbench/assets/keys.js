// ← / → step the epoch through the checkpoints, unless the user is typing in a field.
document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || event.target.isContentEditable) { return; }
    const id = event.key === "ArrowLeft" ? "epoch-prev" : event.key === "ArrowRight" ? "epoch-next" : null;
    const button = id && document.getElementById(id);
    if (button) { event.preventDefault(); button.click(); }
});
