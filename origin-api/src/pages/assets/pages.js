// The hosted pages' behaviour: passkeys (WebAuthn is a script API). Everything else on the pages
// works without it. No build step, no dependencies; loaded with `defer` under a CSP without inline
// script.
'use strict';

(() => {
  const body = document.body;
  const base = body.dataset.base;
  const returnTo = body.dataset.returnTo || '';
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const errorBox = document.getElementById('error');
  const supported = !!(window.PublicKeyCredential && navigator.credentials);

  // base64url (unpadded) <-> ArrayBuffer: the server's options and the credential as it expects it.
  const decode = (text) => {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  };
  const encode = (buffer) => {
    let bin = '';
    new Uint8Array(buffer).forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  const showError = (code, message) => {
    errorBox.textContent = message;
    errorBox.dataset.code = code;
    errorBox.hidden = false;
  };
  const clearError = () => {
    errorBox.hidden = true;
    errorBox.textContent = '';
    delete errorBox.dataset.code;
  };

  // A refusal from the browser, in words a person can act on; the code stays machine-readable.
  const explain = (e) => {
    if (e && e.code && e.serverMessage) return { code: e.code, message: e.serverMessage };
    switch (e && e.name) {
      case 'NotAllowedError':
        return { code: 'passkey_cancelled', message: 'The passkey request was cancelled or timed out. Try again, or use your password.' };
      case 'InvalidStateError':
        return { code: 'passkey_exists', message: 'This device already holds a passkey for this account.' };
      case 'SecurityError':
        return { code: 'passkey_origin', message: 'Passkeys cannot be used on this address.' };
      default:
        return { code: 'passkey_failed', message: 'The passkey did not work. Try again, or use your password.' };
    }
  };

  const post = async (path, payload) => {
    const response = await fetch(base + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(payload || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const failure = new Error('refused');
      failure.code = (data.error && data.error.code) || 'internal_error';
      failure.serverMessage = (data.error && data.error.message) || 'Something went wrong on our side. Try again.';
      throw failure;
    }
    return data;
  };

  const creationOptions = (started) => {
    const pk = started.options.publicKey;
    pk.challenge = decode(pk.challenge);
    pk.user.id = decode(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = decode(c.id); });
    return pk;
  };
  const requestOptions = (started) => {
    const pk = started.options.publicKey;
    pk.challenge = decode(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = decode(c.id); });
    return pk;
  };
  const registration = (c) => ({
    id: c.id,
    rawId: encode(c.rawId),
    type: c.type,
    response: {
      clientDataJSON: encode(c.response.clientDataJSON),
      attestationObject: encode(c.response.attestationObject),
    },
  });
  const assertion = (c) => ({
    id: c.id,
    rawId: encode(c.rawId),
    type: c.type,
    response: {
      authenticatorData: encode(c.response.authenticatorData),
      clientDataJSON: encode(c.response.clientDataJSON),
      signature: encode(c.response.signature),
      userHandle: c.response.userHandle ? encode(c.response.userHandle) : null,
    },
  });

  const reveal = (id) => {
    const element = document.getElementById(id);
    if (element && supported) element.hidden = false;
    return element;
  };

  // Sign-in: passkey autofill in the e-mail field (conditional mediation), kept alive after every
  // failure (one error must not end it until the page reloads), and a button for the modal prompt,
  // which first aborts the pending autofill request (only one may be pending).
  const signIn = () => {
    let pending = null;

    const finish = async (started, credential) => {
      const done = await post('/sign-in/passkey', {
        ceremony_id: started.ceremony_id,
        credential: assertion(credential),
        return_to: returnTo || null,
      });
      window.location.assign(done.redirect);
    };

    const autofill = async () => {
      if (!supported || !PublicKeyCredential.isConditionalMediationAvailable) return;
      if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
      for (;;) {
        const controller = new AbortController();
        let settled;
        pending = { controller, done: new Promise((resolve) => { settled = resolve; }) };
        try {
          const started = await post('/sign-in/passkey/start', {});
          const credential = await navigator.credentials.get({
            mediation: 'conditional',
            publicKey: requestOptions(started),
            signal: controller.signal,
          });
          await finish(started, credential);
          return;
        } catch (e) {
          if (controller.signal.aborted) return;
          const shown = explain(e);
          showError(shown.code, shown.message);
          // A fresh ceremony after a pause, so a persistent failure does not spin.
          await new Promise((resolve) => setTimeout(resolve, 1000));
        } finally {
          settled();
        }
      }
    };

    const button = reveal('passkey-sign-in');
    if (button) {
      button.addEventListener('click', async () => {
        clearError();
        if (pending) {
          pending.controller.abort();
          await pending.done;
          pending = null;
        }
        try {
          const email = document.getElementById('email').value.trim();
          const started = await post('/sign-in/passkey/start', email ? { email } : {});
          const credential = await navigator.credentials.get({ publicKey: requestOptions(started) });
          await finish(started, credential);
          return;
        } catch (e) {
          const shown = explain(e);
          showError(shown.code, shown.message);
        }
        autofill();
      });
    }
    autofill();
  };

  const signUp = () => {
    const button = reveal('passkey-sign-up');
    if (!button) return;
    button.addEventListener('click', async () => {
      clearError();
      const emailField = document.getElementById('email');
      if (!emailField.reportValidity()) return;
      try {
        const started = await post('/sign-up/passkey/start', { email: emailField.value.trim() });
        const credential = await navigator.credentials.create({ publicKey: creationOptions(started) });
        const done = await post('/sign-up/passkey', {
          ceremony_id: started.ceremony_id,
          credential: registration(credential),
          return_to: returnTo || null,
        });
        window.location.assign(done.redirect);
      } catch (e) {
        const shown = explain(e);
        showError(shown.code, shown.message);
      }
    });
  };

  const account = () => {
    const button = reveal('add-passkey');
    if (!button) return;
    button.addEventListener('click', async () => {
      clearError();
      try {
        const started = await post('/account/passkeys/start', {});
        const credential = await navigator.credentials.create({ publicKey: creationOptions(started) });
        await post('/account/passkeys/finish', {
          ceremony_id: started.ceremony_id,
          credential: registration(credential),
        });
        window.location.reload();
      } catch (e) {
        const shown = explain(e);
        showError(shown.code, shown.message);
      }
    });
  };

  ({ 'sign-in': signIn, 'sign-up': signUp, account })[body.dataset.page]?.();
})();
