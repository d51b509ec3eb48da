// Copy buttons, without inline script (the CSP runs scripts from this origin only). A button
// `<button type="button" data-copy="ID" data-copy-status="STATUS-ID" hidden>` copies the value (or
// text) of the element with id ID and says so in STATUS-ID (a role="status" element). Buttons stay
// hidden when scripts do not run: the text is still there to select and copy by hand.
'use strict';
for (const button of document.querySelectorAll('button[data-copy]')) {
  const source = document.getElementById(button.dataset.copy);
  if (!source) continue;
  const status = button.dataset.copyStatus ? document.getElementById(button.dataset.copyStatus) : null;
  const say = (text) => {
    if (status) status.textContent = text;
  };
  button.hidden = false;
  button.addEventListener('click', async () => {
    const text = ('value' in source ? source.value : source.textContent).trim();
    try {
      await navigator.clipboard.writeText(text);
      say('Copied.');
    } catch {
      // No clipboard access (an older browser, or not allowed): select it for Ctrl+C / ⌘C.
      if (typeof source.select === 'function') source.select();
      say('Selected: press Ctrl+C (⌘C on a Mac) to copy.');
    }
  });
}
