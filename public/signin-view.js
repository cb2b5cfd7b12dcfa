/** The sign-in form: one password field for the API key. */
import { h, replace } from './dom.js';

function explain(err) {
  if (err.status === 401) return 'This API key was not accepted. Check it, or ask an administrator for a new one.';
  if (err.status === 403) {
    return 'This API key cannot view patient data (device and metrics keys are meant for machines). Use a clinician, reader, patient or admin key.';
  }
  if (err.status === 429) return 'Too many attempts. Wait a minute, then try again.';
  return err.message;
}

/** Renders the form; `onSubmit(key)` signs in and throws ApiError when the key is refused. */
export function renderSignIn(ctx, { onSubmit, message }) {
  document.title = 'Sign in · PatientPulse';
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'api-key-help',
  });
  const status = h('div', { class: 'form-message', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin card',
      novalidate: true,
      on: {
        submit: async (e) => {
          e.preventDefault();
          const key = input.value.trim();
          if (!key) {
            status.textContent = 'Enter an API key.';
            input.focus();
            return;
          }
          button.disabled = true;
          form.setAttribute('aria-busy', 'true');
          status.textContent = '';
          try {
            await onSubmit(key);
          } catch (err) {
            status.textContent = explain(err);
            input.select();
            input.focus();
          } finally {
            button.disabled = false;
            form.removeAttribute('aria-busy');
          }
        },
      },
    },
    h('h1', { tabindex: '-1' }, 'Sign in'),
    h('p', { class: 'muted' }, 'PatientPulse shows your patients’ glucose, blood pressure and weight.'),
    message ? h('p', { class: 'notice' }, message) : null,
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h(
      'p',
      { id: 'api-key-help', class: 'hint' },
      'Kept only for this browser tab and removed when you sign out or close it.',
    ),
    status,
    button,
  );
  replace(ctx.main, h('section', { class: 'container narrow' }, form));
  input.focus();
  return null;
}
