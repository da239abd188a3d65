// GOV.UK Frontend's behaviour for the workbench pages, with one change: radios' conditional
// reveals are driven here without GOV.UK's `aria-expanded` on the radio inputs, which ARIA does
// not allow on role=radio (axe-core: aria-allowed-attr). The revealed content sits right after
// its radio, so reading order still tells a screen-reader user what appeared.
import {
  Button,
  Checkboxes,
  ErrorSummary,
  NotificationBanner,
  PasswordInput,
  ServiceNavigation,
  SkipLink,
  createAll,
} from "/assets/govuk-frontend.min.js";

for (const Component of [Button, Checkboxes, ErrorSummary, NotificationBanner, PasswordInput, ServiceNavigation, SkipLink]) {
  createAll(Component);
}

for (const group of document.querySelectorAll('[data-module="govuk-radios"]')) {
  const inputs = [...group.querySelectorAll('input[type="radio"]')];
  const sync = () => {
    for (const input of inputs) {
      const id = input.dataset.ariaControls;
      const target = id ? document.getElementById(id) : null;
      if (!target) continue;
      input.setAttribute("aria-controls", id);
      target.classList.toggle("govuk-radios__conditional--hidden", !input.checked);
    }
  };
  for (const input of inputs) input.addEventListener("change", sync);
  sync();
}
