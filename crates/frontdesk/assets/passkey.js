// frontdesk's one script: the browser side of passkeys (WebAuthn).
//
// A form with data-passkey="sign-in" | "verify" | "register" and
// data-options="<url>" gets its button wired: the script asks the server
// for the ceremony's options (POST, with the form's CSRF token), runs
// navigator.credentials, puts the answer and the sealed state the server
// gave into the form's hidden fields and submits it. The server's answer to
// that submission is an ordinary page or redirect. On the sign-in form the
// browser's passkey autofill (conditional mediation) is offered as well.
// Without WebAuthn the passkey controls are hidden; everything else on the
// page works without this script.
(function () {
  'use strict';

  function toBuf(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function fromBuf(buf) {
    var bytes = new Uint8Array(buf);
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function withIds(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: toBuf(c.id) });
    });
  }

  function creationOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = toBuf(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBuf(pk.user.id) });
    pk.excludeCredentials = withIds(pk.excludeCredentials);
    return pk;
  }

  function requestOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = toBuf(pk.challenge);
    if (pk.allowCredentials) pk.allowCredentials = withIds(pk.allowCredentials);
    return pk;
  }

  function registration(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: fromBuf(c.rawId),
      type: c.type,
      response: {
        attestationObject: fromBuf(r.attestationObject),
        clientDataJSON: fromBuf(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined
      },
      extensions: {}
    };
  }

  function assertion(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: fromBuf(c.rawId),
      type: c.type,
      response: {
        authenticatorData: fromBuf(r.authenticatorData),
        clientDataJSON: fromBuf(r.clientDataJSON),
        signature: fromBuf(r.signature),
        userHandle: r.userHandle ? fromBuf(r.userHandle) : null
      },
      extensions: {}
    };
  }

  function showError(form, message) {
    var p = form.querySelector('#passkey-error');
    if (!p) return;
    p.textContent = message;
    p.hidden = false;
  }

  // Thrown when the browser is already on its way elsewhere.
  var LEAVING = {};

  function fetchOptions(form) {
    var body = new URLSearchParams();
    body.set('csrf', form.elements.csrf.value);
    return fetch(form.dataset.options, {
      method: 'POST',
      body: body,
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (j) {
        if (r.ok && j && j.options && j.state) return j;
        if (j && j.location) {
          window.location.assign(j.location);
          throw LEAVING;
        }
        throw new Error('The server could not start the passkey request. Reload the page and try again.');
      });
    });
  }

  function run(form, mediation, signal) {
    var kind = form.dataset.passkey;
    return fetchOptions(form).then(function (j) {
      var pending;
      if (kind === 'register') {
        pending = navigator.credentials.create({ publicKey: creationOptions(j.options) })
          .then(function (c) { return c && registration(c); });
      } else {
        var req = { publicKey: requestOptions(j.options) };
        if (mediation) req.mediation = mediation;
        if (signal) req.signal = signal;
        pending = navigator.credentials.get(req)
          .then(function (c) { return c && assertion(c); });
      }
      return pending.then(function (answer) {
        if (!answer) return;
        form.elements.state.value = j.state;
        form.elements.credential.value = JSON.stringify(answer);
        form.submit();
      });
    });
  }

  function explain(form, e) {
    if (e === LEAVING || (e && e.name === 'AbortError')) return;
    if (e && e.name === 'NotAllowedError') {
      showError(form, 'The passkey request was cancelled or timed out.');
    } else if (e && e.name === 'InvalidStateError') {
      showError(form, 'This passkey is registered already.');
    } else {
      showError(form, (e && e.message) || 'The passkey request failed.');
    }
  }

  function wire(form) {
    var button = form.querySelector('button[type="button"]');
    if (!button) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      form.hidden = true;
      return;
    }
    var autofill = null;
    if (form.dataset.passkey === 'sign-in' &&
        PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) return;
        autofill = new AbortController();
        run(form, 'conditional', autofill.signal).catch(function (e) {
          if (e && e.name !== 'AbortError' && e !== LEAVING) explain(form, e);
        });
      }).catch(function () {});
    }
    button.addEventListener('click', function () {
      if (autofill) {
        autofill.abort();
        autofill = null;
      }
      button.disabled = true;
      run(form).catch(function (e) { explain(form, e); }).then(function () {
        button.disabled = false;
      });
    });
  }

  var forms = document.querySelectorAll('form[data-passkey]');
  for (var i = 0; i < forms.length; i++) wire(forms[i]);
})();
