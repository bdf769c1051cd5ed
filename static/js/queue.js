// The review queue's keyboard: j/k move between suggestions, the row's [data-shortcut] elements act, ? helps.
// Shortcuts can be switched off (remembered in localStorage); bulk decisions ask once, with the count.
(function () {
  "use strict";

  const STORAGE_KEY = "followback.queue.shortcuts";
  let current = null;
  let refocusIndex = null;

  function enabled() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) !== "off";
    } catch (error) {
      return true;
    }
  }

  function rows() {
    return Array.from(document.querySelectorAll("#queue-rows [data-row]:not([data-settled])"));
  }

  function focusRow(row) {
    if (!row) return;
    if (current && current !== row) current.classList.remove("is-current");
    current = row;
    row.classList.add("is-current");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function currentRow() {
    const active = document.activeElement && document.activeElement.closest("[data-row]");
    if (active && !active.hasAttribute("data-settled")) return active;
    return current && document.body.contains(current) ? current : null;
  }

  function move(step) {
    const list = rows();
    if (!list.length) return;
    const at = list.indexOf(currentRow());
    const next = at === -1 ? (step > 0 ? 0 : list.length - 1) : Math.min(Math.max(at + step, 0), list.length - 1);
    focusRow(list[next]);
    loadMoreNearTheEnd();
  }

  // Pages are short so they come quickly: the next one is fetched while a few rows are still left to decide.
  const ROWS_LEFT_BEFORE_LOADING = 5;
  function loadMoreNearTheEnd() {
    const more = document.querySelector("#queue-more a[hx-get]");
    if (!more || more.classList.contains("htmx-request") || !window.htmx) return;
    const list = rows();
    const at = Math.max(list.indexOf(currentRow()), 0);
    if (list.length - at <= ROWS_LEFT_BEFORE_LOADING) window.htmx.trigger(more, "click");
  }
  document.addEventListener("htmx:afterSettle", loadMoreNearTheEnd);

  function act(element) {
    if (!element) return;
    if (element.tagName === "DETAILS") {
      element.open = !element.open;
      if (element.open) element.querySelector("summary").focus();
    } else if (element.matches("input[type=text], input:not([type]), textarea")) {
      element.focus();
    } else {
      element.click();
    }
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (typing(event.target)) {
      // Escape leaves the reject reason without rejecting, back on the row.
      if (event.key === "Escape" && event.target.matches("[data-shortcut=r]")) {
        event.target.value = "";
        focusRow(event.target.closest("[data-row]"));
      }
      return;
    }
    if (!enabled()) return;
    const key = event.key;
    if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
      return;
    }
    // Before any j/k, the row shortcuts act on the first row: the top suggestion is where a morning starts.
    const row = currentRow() || rows()[0];
    if (row && row !== current && row.querySelector(`[data-shortcut="${CSS.escape(key)}"]`)) focusRow(row);
    const inRow = row && row.querySelector(`[data-shortcut="${CSS.escape(key)}"]`);
    const onPage = document.querySelector(`[data-shortcut="${CSS.escape(key)}"]:not([data-row] *)`);
    const target = inRow || onPage;
    if (!target) return;
    event.preventDefault();
    act(target);
  });

  // After a decision removes (or a list swap replaces) rows, keep the focus where the person was.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    const source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (target && target.matches && target.matches("[data-row]")) {
      refocusIndex = rows().indexOf(target);
    } else if (target && target.id === "queue-list" && source && source.closest(".undo-form, [data-bulk]")) {
      refocusIndex = 0;
    }
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (refocusIndex === null) return;
    const list = rows();
    const row = list[Math.min(refocusIndex, list.length - 1)];
    refocusIndex = null;
    const active = document.activeElement;
    if (row && (!active || active === document.body || active.closest("[data-row]") || !typing(active))) focusRow(row);
  });

  document.addEventListener("focusin", (event) => {
    const row = event.target.closest && event.target.closest("#queue-rows [data-row]");
    if (row && row !== current) {
      if (current) current.classList.remove("is-current");
      current = row;
      row.classList.add("is-current");
    }
  });

  // Bulk: select-all ticks only the rows on screen; the confirmation names the count.
  function selected() {
    return Array.from(document.querySelectorAll("#queue-rows .row-select:checked"));
  }

  function showCount() {
    const output = document.querySelector("[data-selected-count]");
    const count = selected().length;
    if (output) output.textContent = count ? `${count} selected` : "";
    const all = document.querySelector("[data-select-all]");
    const boxes = document.querySelectorAll("#queue-rows .row-select");
    if (all) {
      all.checked = boxes.length > 0 && count === boxes.length;
      all.indeterminate = count > 0 && count < boxes.length;
    }
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll("#queue-rows .row-select").forEach((box) => {
        box.checked = event.target.checked;
      });
    }
    if (event.target.matches("[data-select-all], .row-select")) showCount();
    if (event.target.matches("[data-shortcuts-toggle]")) {
      try {
        window.localStorage.setItem(STORAGE_KEY, event.target.checked ? "on" : "off");
      } catch (error) {
        // Private browsing without storage: the switch still works until the page reloads.
      }
    }
  });
  document.addEventListener("htmx:afterSettle", showCount);

  // Deciding quickly would stack a toast per decision over the rows: keep the newest few.
  const MAX_TOASTS = 3;
  document.addEventListener("htmx:afterSettle", () => {
    const toasts = document.querySelectorAll("#toasts [data-toast]:not(.toast-error)");
    Array.from(toasts).slice(0, Math.max(toasts.length - MAX_TOASTS, 0)).forEach((toast) => toast.remove());
  });

  // When the last row on screen is decided, say so rather than leave an empty list.
  document.addEventListener("htmx:afterSettle", () => {
    const list = document.querySelector("ol#queue-rows");
    if (!list || list.querySelector("[data-row]") || list.nextElementSibling?.matches(".queue-empty")) return;
    const note = document.createElement("p");
    note.className = "queue-empty";
    const more = document.querySelector("#queue-more a");
    note.textContent = more ? "Nothing left on this page; show more for the next ones." : "Nothing left here. Well done.";
    list.after(note);
  });

  document.addEventListener("htmx:confirm", (event) => {
    const form = event.detail.elt.closest && event.detail.elt.closest("[data-bulk]");
    if (!form) return;
    event.preventDefault();
    const count = selected().length;
    const submitter = event.detail.triggeringEvent && event.detail.triggeringEvent.submitter;
    const verb = submitter && submitter.value === "reject" ? "Reject" : "Approve";
    if (!count) {
      window.alert("Tick the suggestions to decide first.");
      return;
    }
    if (window.confirm(`${verb} ${count} selected suggestion${count === 1 ? "" : "s"}? Each is recorded as your own decision.`)) {
      event.detail.issueRequest(true);
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const toggle = document.querySelector("[data-shortcuts-toggle]");
    const holder = document.querySelector("[data-shortcuts-switch]");
    if (toggle && holder) {
      toggle.checked = enabled();
      holder.hidden = false;
    }
    showCount();
  });
})();
