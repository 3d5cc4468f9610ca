// Renders the signal map's mermaid source (from the server) as an SVG, in strict security mode.
(function () {
  "use strict";
  const box = document.getElementById("signal-diagram");
  const source = document.getElementById("mermaid-source");
  if (!box || !source || !window.mermaid) return;
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral", flowchart: { htmlLabels: false } });
  window.mermaid
    .render("signal-map-svg", source.textContent)
    .then(function (result) {
      box.innerHTML = result.svg;
      box.dataset.rendered = "yes";
    })
    .catch(function (error) {
      const note = document.createElement("p");
      note.className = "refused";
      note.textContent = "The diagram could not be drawn: " + error;
      box.prepend(note);
    });
})();
