/**
 * Entry point: session (the API key lives in sessionStorage only, never in the URL),
 * hash routing (#/ is the panel, #/patients/{id} a patient), and view lifecycle.
 */
import { createApi } from './api.js';
import { announce, h, replace } from './dom.js';
import { zoneLabel } from './format.js';
import { renderPanel } from './panel-view.js';
import { renderPatient } from './patient-view.js';
import { renderSignIn } from './signin-view.js';

const KEY_STORAGE = 'patientpulse.apiKey';
const main = document.getElementById('main');
const sessionBar = document.getElementById('session');
const roleBadge = document.getElementById('session-role');

/** Shared state that outlives a view (the panel keeps its search and page). */
const state = { me: null, panel: { search: '', sort: 'attention', page: 1 } };
let cleanup = null;
let generation = 0;

const api = createApi(
  () => sessionStorage.getItem(KEY_STORAGE),
  () => signOut('Your API key is no longer accepted (it may have expired or been revoked). Please sign in again.'),
);

function describeKey(me) {
  const role = me.role.charAt(0).toUpperCase() + me.role.slice(1);
  const n = me.patient_ids?.length ?? 0;
  const scope = me.patient_ids === null ? 'all patients' : `${n} patient${n === 1 ? '' : 's'}`;
  // The scope part gives way first on narrow screens.
  return [role, h('span', { class: 'badge-scope' }, ` · ${scope}`)];
}

function showSession(me) {
  sessionBar.hidden = !me;
  replace(roleBadge, me ? describeKey(me) : []);
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  state.me = null;
  state.panel = { search: '', sort: 'attention', page: 1 };
  showSession(null);
  route(message);
}

async function signIn(key) {
  const me = await api.get('/me', undefined, { key });
  sessionStorage.setItem(KEY_STORAGE, key);
  state.me = me;
  showSession(me);
  announce('Signed in');
  route();
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** Renders the view for the current hash; a newer route makes older async work a no-op. */
async function route(message) {
  generation += 1;
  const mine = generation;
  cleanup?.();
  cleanup = null;
  const ctx = {
    api,
    main,
    state,
    navigate,
    isCurrent: () => mine === generation,
    canWrite: () => Boolean(state.me?.permissions.includes('readings:write')),
  };
  if (!sessionStorage.getItem(KEY_STORAGE)) {
    cleanup = renderSignIn(ctx, { onSubmit: signIn, message });
    return;
  }
  if (!state.me) {
    try {
      state.me = await api.get('/me');
      showSession(state.me);
    } catch (err) {
      if (mine !== generation) return;
      if (err.status === 401) return; // onUnauthorized already signed out
      replace(main, h('div', { class: 'notice notice-error', role: 'alert' }, err.message));
      return;
    }
    if (mine !== generation) return;
  }
  const m = /^#\/patients\/(\d+)$/.exec(location.hash);
  if (m) cleanup = renderPatient(ctx, Number(m[1]));
  else if (location.hash === '' || location.hash === '#' || location.hash === '#/') cleanup = renderPanel(ctx);
  else {
    document.title = 'Not found · PatientPulse';
    replace(
      main,
      h(
        'section',
        { class: 'container' },
        h('h1', { tabindex: '-1' }, 'Page not found'),
        h('p', {}, h('a', { href: '#/' }, 'Go to the patient list')),
      ),
    );
  }
}

document.getElementById('sign-out').addEventListener('click', () => signOut('You have signed out.'));
document.getElementById('tz-note').textContent = `Times are shown in ${zoneLabel()}.`;
window.addEventListener('hashchange', () => route());
route();
