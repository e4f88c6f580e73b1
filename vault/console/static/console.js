// Progressive enhancement only: every console page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // "Copy the token" buttons: hidden unless the clipboard can be used.
  for (const button of document.querySelectorAll("[data-copy-target]")) {
    const target = document.getElementById(button.dataset.copyTarget);
    const status = document.getElementById("copy-status");
    if (!target || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(target.textContent.trim());
        if (status) status.textContent = "Copied to the clipboard.";
      } catch {
        if (status) status.textContent = "Could not copy; select the token and copy it by hand.";
      }
    });
  }
  // Irreversible actions ask once more.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
