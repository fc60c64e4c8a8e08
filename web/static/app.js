// The socialapi browser app: every screen is built from the JSON API.
// User-supplied text only ever reaches the page through text nodes and
// attribute values (never as markup), and the token lives in
// sessionStorage, so it is gone when the tab closes.

const api = 'api/accounts/';
const tokenKey = 'socialapi.token';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const banner = document.getElementById('banner');
const bannerText = document.getElementById('banner-text');

let token = sessionStorage.getItem(tokenKey);
let me = null; // USER of the token's owner, once fetched
let flash = null; // a message for the next screen, shown once it renders
let renderCount = 0; // tells a slow screen that another has replaced it

// el builds an element. Attributes named on… become listeners, true is an
// empty attribute, and children that are not nodes become text.
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) e.addEventListener(name.slice(2), value);
    else e.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    e.append(child instanceof Node ? child : String(child));
  }
  return e;
}

// ApiError is a non-2xx answer: its status and its DRF body, either
// {"detail": "…"} or {"field": ["…"]}.
class ApiError extends Error {
  constructor(status, data, retryAfter) {
    super(typeof data?.detail === 'string' ? data.detail : `The server answered ${status}.`);
    this.status = status;
    this.data = data && typeof data === 'object' ? data : {};
    this.retryAfter = Number(retryAfter) || 0;
  }
}

// call sends one request to the API. body is a FormData (sent as
// multipart) or any other value (sent as JSON). A 401 to a request that
// carried the token means the session is over: the app forgets it.
async function call(method, url, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Token ' + token;
  const init = { method, headers };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError(0, { detail: 'The server cannot be reached. Check the connection and try again.' });
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (res.ok) return data;
  const err = new ApiError(res.status, data, res.headers.get('Retry-After'));
  if (res.status === 401 && headers.Authorization) {
    endSession('Your session has ended. Please log in again.');
  }
  throw err;
}

function saveToken(t) {
  token = t;
  sessionStorage.setItem(tokenKey, t);
}

// endSession forgets the token and shows the login screen with message.
function endSession(message) {
  token = null;
  me = null;
  sessionStorage.removeItem(tokenKey);
  go('#/login', message);
}

function go(hash, message, kind = 'info') {
  flash = message ? { text: message, kind } : null;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showBanner(text, kind = 'error') {
  bannerText.textContent = text;
  banner.className = kind;
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
  bannerText.textContent = '';
}

document.getElementById('banner-close').addEventListener('click', hideBanner);

// showError puts an error in the banner, unless it ended the session,
// which has already said so.
function showError(err) {
  if (err instanceof ApiError && err.status === 401 && !token) return;
  showBanner(err.message);
}

// ---- forms ----

// field makes a labelled input with a place for its errors. opts.multiline
// makes a textarea, opts.hint a line under the label, opts.value the
// starting value; other opts become the input's attributes.
function field(formId, name, label, opts = {}) {
  const { multiline, hint, value, ...attrs } = opts;
  const id = `${formId}-${name}`;
  const describedBy = [hint && `${id}-hint`, `${id}-error`].filter(Boolean).join(' ');
  const input = multiline
    ? el('textarea', { id, name, rows: 4, 'aria-describedby': describedBy, ...attrs })
    : el('input', { id, name, type: 'text', 'aria-describedby': describedBy, ...attrs });
  if (value !== undefined) input.value = value;
  return el('div', { class: 'field', 'data-field': name },
    el('label', { for: id }, label),
    hint && el('p', { class: 'hint', id: `${id}-hint` }, hint),
    input,
    el('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
}

// form makes a form whose submission runs submit(form). While it runs the
// button is disabled; an ApiError it throws is shown next to the fields it
// names, on the form for the rest, and in the banner when it is a detail.
function form(id, label, fields, submitLabel, submit) {
  const button = el('button', { type: 'submit' }, submitLabel);
  const formError = el('p', { class: 'form-error', tabindex: -1, hidden: true });
  const f = el('form', { id, 'aria-label': label, novalidate: true }, formError, fields, el('div', { class: 'actions' }, button));
  f.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(f);
    button.disabled = true;
    let wait = 0;
    try {
      await submit(f);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      showFormErrors(f, err);
      wait = err.status === 429 ? err.retryAfter : 0;
    } finally {
      // After a 429 the button stays off until the server will listen again.
      setTimeout(() => { button.disabled = false; }, wait * 1000);
    }
  });
  return f;
}

function clearErrors(f) {
  for (const p of f.querySelectorAll('.field-error, .form-error')) {
    p.hidden = true;
    p.textContent = '';
  }
  for (const input of f.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

function showFormErrors(f, err) {
  if (typeof err.data.detail === 'string' || Object.keys(err.data).length === 0) {
    showError(err);
    return;
  }
  const formError = f.querySelector('.form-error');
  let first = null;
  for (const [name, messages] of Object.entries(err.data)) {
    const text = [].concat(messages).join(' ');
    const box = f.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!box) {
      formError.textContent = (formError.textContent + ' ' + text).trim();
      formError.hidden = false;
      continue;
    }
    const input = box.querySelector('input, textarea');
    const p = box.querySelector('.field-error');
    p.textContent = text;
    p.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    first ??= input;
  }
  (first ?? formError).focus();
}

// formData is the form as multipart, without an empty file input: an
// empty file would clear the picture or be refused.
function formData(f) {
  const data = new FormData(f);
  const file = data.get('profile_picture');
  if (file instanceof File && file.name === '' && file.size === 0) data.delete('profile_picture');
  return data;
}

// ---- pieces ----

// safeURL is u when it is an http(s) URL, else null, so that no link or
// picture can run script whatever the API returns.
function safeURL(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function avatar(user, size = 'large') {
  const src = user.profile_picture && safeURL(user.profile_picture);
  if (src) return el('img', { class: `avatar ${size}`, src, alt: `Profile picture of ${user.username}` });
  return el('span', { class: `avatar ${size} placeholder`, 'aria-hidden': 'true' }, [...user.username][0]?.toUpperCase() ?? '?');
}

function when(s) {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

function heading(text) {
  return el('h1', { tabindex: -1 }, text);
}

function counts(user) {
  return el('p', { class: 'counts' },
    el('a', { href: `#/users/${user.id}/followers`, 'data-count': 'followers' }, `${user.followers_count} followers`),
    el('a', { href: `#/users/${user.id}/following`, 'data-count': 'following' }, `${user.following_count} following`));
}

function userItem(user) {
  return el('li', { class: 'user' },
    avatar(user, 'small'),
    el('div', {},
      el('a', { href: `#/users/${user.id}` }, user.username),
      user.is_following && el('span', { class: 'badge' }, 'Following'),
      user.bio && el('p', { class: 'bio' }, user.bio)));
}

// pagedList shows a list of users that grows along the API's next links.
function pagedList(url, label, emptyText) {
  const list = el('ul', { class: 'users', 'aria-label': label });
  const status = el('p', { class: 'muted', 'aria-live': 'polite' });
  const more = el('button', { type: 'button', class: 'more', hidden: true }, 'Load more');
  let next = url;
  async function load() {
    more.disabled = true;
    try {
      const page = await call('GET', next);
      const items = page.results.map(userItem);
      list.append(...items);
      next = page.next && safeURL(page.next);
      more.hidden = !next;
      status.textContent = page.count === 0 ? emptyText : `Showing ${list.children.length} of ${page.count}.`;
      return items[0];
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', async () => {
    try {
      // Keep the keyboard where the reading goes on: at the first new user.
      (await load())?.querySelector('a').focus();
    } catch (err) {
      showError(err);
    }
  });
  return { node: el('div', {}, list, status, more), load };
}

// ---- screens ----

function viewLogin() {
  const f = form('login', 'Log in', [
    field('login', 'username', 'Username', { autocomplete: 'username', required: true, autocapitalize: 'none' }),
    field('login', 'password', 'Password', { type: 'password', autocomplete: 'current-password', required: true }),
  ], 'Log in', async (f) => {
    const data = await call('POST', api + 'login/', Object.fromEntries(new FormData(f)));
    saveToken(data.token);
    me = data.user;
    go('#/me');
  });
  return el('section', {}, heading('Log in'), f,
    el('p', {}, 'No account yet? ', el('a', { href: '#/register' }, 'Register')));
}

function viewRegister() {
  const f = form('register', 'Register', [
    field('register', 'username', 'Username', { autocomplete: 'username', required: true, autocapitalize: 'none',
      hint: 'Letters, digits and @ . + - _ only.' }),
    field('register', 'email', 'Email', { type: 'email', autocomplete: 'email', required: true }),
    field('register', 'password', 'Password', { type: 'password', autocomplete: 'new-password', required: true,
      hint: 'At least 8 characters, not only digits, not a common password.' }),
    field('register', 'password2', 'Password again', { type: 'password', autocomplete: 'new-password', required: true }),
    field('register', 'bio', 'Bio (optional)', { multiline: true, maxlength: 1000 }),
    field('register', 'profile_picture', 'Picture (optional)', { type: 'file', accept: 'image/png,image/jpeg,image/gif' }),
  ], 'Register', async (f) => {
    const data = await call('POST', api + 'register/', formData(f));
    saveToken(data.token);
    me = data.user;
    go('#/me', `Welcome, ${data.user.username}!`);
  });
  return el('section', {}, heading('Register'), f,
    el('p', {}, 'Have an account? ', el('a', { href: '#/login' }, 'Log in')));
}

async function viewMe() {
  me = await call('GET', api + 'profile/');
  const section = el('section', {});
  const render = () => {
    const edit = form('profile', 'Edit profile', [
      field('profile', 'email', 'Email', { type: 'email', autocomplete: 'email', value: me.email }),
      field('profile', 'bio', 'Bio', { multiline: true, maxlength: 1000, value: me.bio }),
      field('profile', 'profile_picture', 'New picture', { type: 'file', accept: 'image/png,image/jpeg,image/gif' }),
    ], 'Save', async (f) => {
      me = await call('PATCH', api + 'profile/', formData(f));
      render();
      section.querySelector('h1').focus();
      showBanner('Your profile is saved.', 'info');
    });
    const clear = me.profile_picture && el('button', { type: 'button', class: 'secondary', onclick: async () => {
      try {
        me = await call('PATCH', api + 'profile/', { profile_picture: null });
        render();
        section.querySelector('h1').focus();
        showBanner('Your picture is removed.', 'info');
      } catch (err) {
        showError(err);
      }
    } }, 'Remove picture');
    section.replaceChildren(
      heading('Your profile'),
      el('div', { class: 'card' }, avatar(me),
        el('div', {},
          el('p', { class: 'name' }, me.username),
          el('p', { class: 'muted' }, me.email),
          el('p', { class: 'bio' }, me.bio || 'No bio yet.'),
          counts(me),
          clear)),
      el('h2', {}, 'Edit'), edit);
  };
  render();
  return section;
}

async function viewSearch(query) {
  const q = new URLSearchParams(query).get('q') ?? '';
  const f = form('search', 'Search users', [
    field('search', 'q', 'Username starts with', { type: 'search', value: q, autocapitalize: 'none' }),
  ], 'Search', async (f) => {
    go('#/search?' + new URLSearchParams({ q: f.elements.q.value.trim() }));
  });
  const section = el('section', {}, heading('Search users'), f);
  if (q) {
    const list = pagedList(api + 'users/?' + new URLSearchParams({ search: q }), `Users starting with ${q}`, 'No user has a name that starts so.');
    await list.load();
    section.append(el('h2', {}, `Users starting with “${q}”`), list.node);
  }
  return section;
}

async function viewUser(id) {
  const user = await call('GET', `${api}users/${id}/`);
  const section = el('section', {});
  const render = (u) => {
    const button = u.id === me?.id
      ? el('a', { href: '#/me' }, 'This is you: edit your profile')
      : el('button', { type: 'button', class: u.is_following ? 'secondary' : '', onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          const data = await call('POST', `${api}${u.is_following ? 'unfollow' : 'follow'}/${u.id}/`);
          render(data.user);
          section.querySelector('.card button')?.focus();
          showBanner(data.detail, 'info');
        } catch (err) {
          button.disabled = false;
          showError(err);
        }
      } }, u.is_following ? `Unfollow ${u.username}` : `Follow ${u.username}`);
    section.replaceChildren(heading(u.username),
      el('div', { class: 'card' }, avatar(u),
        el('div', {}, el('p', { class: 'bio' }, u.bio || 'No bio yet.'), counts(u), button)));
  };
  if (me === null) me = await call('GET', api + 'profile/');
  render(user);
  return section;
}

async function viewList(id, which) {
  const user = await call('GET', `${api}users/${id}/`);
  const title = which === 'followers' ? `Followers of ${user.username}` : `Followed by ${user.username}`;
  const list = pagedList(`${api}users/${id}/${which}/`, title,
    which === 'followers' ? 'Nobody follows them yet.' : 'They follow nobody yet.');
  await list.load();
  return el('section', {}, heading(title),
    el('p', {}, el('a', { href: `#/users/${id}` }, `Back to ${user.username}`)), list.node);
}

async function viewSessions() {
  const tokens = await call('GET', api + 'tokens/');
  const items = tokens.map((t) => {
    const device = t.user_agent ?? 'Unknown device';
    return el('li', { class: 'session' },
      el('p', { class: 'name' }, device, t.current && el('span', { class: 'badge' }, 'This tab')),
      el('p', { class: 'muted' }, `Signed in ${when(t.created)} · last used ${when(t.last_used)}`,
        t.expires && ` · expires ${when(t.expires)} unless used`),
      el('button', { type: 'button', class: 'secondary', 'aria-label': `Revoke session ${t.id} (${device}, signed in ${when(t.created)})`,
        onclick: async () => {
          try {
            await call('DELETE', `${api}tokens/${t.id}/`);
            if (t.current) endSession('You have logged out.');
            else go('#/sessions', 'The session is revoked.');
          } catch (err) {
            showError(err);
          }
        } }, 'Revoke'));
  });
  return el('section', {}, heading('Your sessions'),
    el('p', {}, 'Each login is a session of its own. Revoking one logs that device out at once.'),
    el('ul', { class: 'sessions', 'aria-label': 'Sessions' }, items),
    el('div', { class: 'actions' },
      el('button', { type: 'button', onclick: () => logout('logout/', 'You have logged out.') }, 'Log out'),
      el('button', { type: 'button', class: 'secondary', onclick: () => logout('logout-all/', 'You have logged out everywhere.') },
        'Log out everywhere')));
}

function viewPassword() {
  const f = form('password', 'Change password', [
    field('password', 'old_password', 'Current password', { type: 'password', autocomplete: 'current-password', required: true }),
    field('password', 'new_password', 'New password', { type: 'password', autocomplete: 'new-password', required: true,
      hint: 'At least 8 characters, not only digits, not a common password.' }),
    field('password', 'new_password2', 'New password again', { type: 'password', autocomplete: 'new-password', required: true }),
  ], 'Change password', async (f) => {
    const data = await call('POST', api + 'password/', Object.fromEntries(new FormData(f)));
    saveToken(data.token);
    f.reset();
    showBanner('Your password is changed. Every other session has ended.', 'info');
  });
  return el('section', {}, heading('Change password'),
    el('p', {}, 'Changing it logs you out everywhere else.'), f);
}

// logout revokes the token (or all of them) and forgets it. A 401 means
// the session had already ended, which call has said.
async function logout(path, message) {
  try {
    await call('POST', api + path);
  } catch (err) {
    showError(err);
    return;
  }
  endSession(message);
}

document.getElementById('logout').addEventListener('click', () => logout('logout/', 'You have logged out.'));

// ---- routing ----

// Each route is a hash pattern, its screen, and whether it needs a token.
const routes = [
  [/^#\/login$/, viewLogin, false],
  [/^#\/register$/, viewRegister, false],
  [/^#\/me$/, viewMe, true],
  [/^#\/search(?:\?(.*))?$/, viewSearch, true],
  [/^#\/users\/(\d+)$/, viewUser, true],
  [/^#\/users\/(\d+)\/(followers|following)$/, viewList, true],
  [/^#\/sessions$/, viewSessions, true],
  [/^#\/password$/, viewPassword, true],
];

async function route() {
  const n = ++renderCount;
  const found = routes.map(([re, view, auth]) => [location.hash.match(re), view, auth]).find(([m]) => m);
  if (!found || found[2] !== Boolean(token)) {
    location.replace(token ? '#/me' : '#/login');
    return;
  }
  const [match, view] = found;
  const message = flash;
  flash = null;
  hideBanner();
  nav.hidden = !token;
  for (const a of nav.querySelectorAll('a')) {
    if (location.hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.setAttribute('aria-busy', 'true');
  let screen;
  try {
    screen = await view(...match.slice(1));
  } catch (err) {
    if (n !== renderCount || (err.status === 401 && !token)) return;
    if (!(err instanceof ApiError)) throw err;
    screen = el('section', {}, heading(err.status === 404 ? 'Not found' : 'Something went wrong'),
      el('p', {}, err.message), el('p', {}, el('a', { href: '#/me' }, 'Back to your profile')));
  }
  if (n !== renderCount) return;
  main.removeAttribute('aria-busy');
  main.replaceChildren(screen);
  if (message) showBanner(message.text, message.kind);
  main.querySelector('h1')?.focus();
}

window.addEventListener('hashchange', route);
route();
