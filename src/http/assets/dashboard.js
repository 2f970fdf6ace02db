// The dashboard's own script, served from /assets/dashboard.js (the page's CSP allows scripts
// from this server only: no inline script, no inline handlers).
function fmtDuration(s) {
  var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
  if (d > 0) return d + ' d ' + h + ' h';
  if (h > 0) return h + ' h ' + m + ' m';
  if (m > 0) return m + ' m ' + x + ' s';
  return x + ' s';
}
// The server says what time it is (#server-clock, in every fragment): durations count from its
// clock, not the browser's (an injected clock in tests, a laptop whose clock is off).
var skew = 0;
function syncClock() {
  var el = document.getElementById('server-clock');
  var t = el ? Date.parse(el.dataset.now) : NaN;
  if (!isNaN(t)) skew = t - Date.now();
}
function tick() {
  var now = Date.now() + skew;
  document.querySelectorAll('[data-countdown]').forEach(function (el) {
    var s = Math.max(0, Math.round((Date.parse(el.dataset.countdown) - now) / 1000));
    el.textContent = s > 0 ? 'in ' + s + 's' : 'now';
  });
  document.querySelectorAll('[data-elapsed]').forEach(function (el) {
    el.textContent = fmtDuration(Math.max(0, Math.round((now - Date.parse(el.dataset.elapsed)) / 1000)));
  });
  document.querySelectorAll('[data-until]').forEach(function (el) {
    el.textContent = fmtDuration(Math.max(0, Math.round((Date.parse(el.dataset.until) - now) / 1000)));
  });
}
setInterval(tick, 1000);
document.addEventListener('htmx:afterSwap', function () { syncClock(); tick(); });
document.addEventListener('DOMContentLoaded', function () { syncClock(); tick(); });
async function post(url, body) {
  var headers = { 'content-type': 'application/json' };
  var token = sessionStorage.getItem('ibkr-token');
  if (token) headers['authorization'] = 'Bearer ' + token;
  var r = await fetch(url, { method: 'POST', headers: headers, body: JSON.stringify(body) });
  if (r.status === 401 || (r.status === 403 && token)) {
    var t = prompt('This supervisor needs its HTTP token for this action:');
    if (t) { sessionStorage.setItem('ibkr-token', t); return post(url, body); }
  }
  var text = await r.text();
  var msg = document.getElementById('message');
  var error = text;
  try { error = JSON.parse(text).error || text; } catch (e) { /* not JSON, e.g. a proxy's page */ }
  if (msg) msg.textContent = r.ok ? '' : error;
  htmx.ajax('GET', '/trades/status', { target: '#status', swap: 'innerHTML' });
}
// Every button that changes state says where it posts: <button data-post="/trading" data-body='{…}'>.
document.addEventListener('click', function (ev) {
  var b = ev.target.closest('button[data-post]');
  if (!b || b.disabled) return;
  post(b.dataset.post, JSON.parse(b.dataset.body));
});
