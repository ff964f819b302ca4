// Drag-and-drop onto the upload zone (progressive enhancement: the plain file picker works without it).
(function () {
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("image");
  const text = document.getElementById("drop-text");
  if (!zone || !input) return;
  const show = () => { if (input.files.length) text.textContent = input.files[0].name; };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault(); zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) { input.files = event.dataTransfer.files; show(); }
  });
})();
