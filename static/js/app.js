// Followback's small page behaviours: toasts, confirmations for plain forms, and htmx error reporting.
(function () {
  "use strict";

  const TOAST_MS = 6000;

  function dismiss(toast) {
    toast.classList.add("leaving");
    setTimeout(() => toast.remove(), 300);
  }

  function armToasts(root) {
    root.querySelectorAll("[data-toast]:not([data-armed])").forEach((toast) => {
      toast.dataset.armed = "1";
      if (!toast.classList.contains("toast-error")) setTimeout(() => dismiss(toast), TOAST_MS);
    });
  }

  function showToast(text, kind) {
    const region = document.getElementById("toasts");
    if (!region) return;
    const toast = document.createElement("div");
    toast.className = "toast toast-" + kind;
    toast.dataset.toast = "";
    toast.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.dataset.toastClose = "";
    close.textContent = "×";
    toast.appendChild(close);
    region.appendChild(toast);
    armToasts(region);
  }

  document.addEventListener("click", (event) => {
    const close = event.target.closest("[data-toast-close]");
    if (close) dismiss(close.closest("[data-toast]"));
  });

  // Plain (non-htmx) submissions ask for confirmation here; htmx ones use hx-confirm.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.confirm && !form.hasAttribute("hx-post") && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", () => armToasts(document));
  document.addEventListener("htmx:afterSettle", () => armToasts(document));
  document.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    const text = status === 403 ? "Your role does not allow that." :
      status === 404 ? "That is no longer there. Reload the page." :
      "Something went wrong on our side; nothing was lost. Try again in a moment.";
    showToast(text, "error");
  });
  document.addEventListener("htmx:sendError", () => showToast("No connection to Followback. Check your network and try again.", "error"));
})();
