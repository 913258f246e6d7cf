//! The pages' HTML (maud: checked at compile time, every interpolation escaped). No inline script or
//! style: behaviour comes from `/pages/pages.js`, looks from `/pages/pages.css`.

use crate::domain::MIN_PASSWORD_CHARS;
use crate::routes::my_passkeys::PasskeyView;
use crate::routes::my_sessions::SessionView;
use maud::{html, Markup, DOCTYPE};

/// An error shown to a person, with its stable code kept for machines (`data-code`).
#[derive(Debug, Clone)]
pub struct Shown {
    pub code: &'static str,
    pub message: String,
}

/// What every page knows about where it is.
#[derive(Debug)]
pub struct Frame<'a> {
    /// `sign-in`, `sign-up` or `account`: which behaviour the script attaches.
    pub page: &'static str,
    pub title: &'a str,
    pub tenant_name: &'a str,
    /// `/t/{slug}`: where the page's forms post.
    pub base: &'a str,
    pub csrf: &'a str,
    /// Validated, or empty.
    pub return_to: &'a str,
    pub error: Option<&'a Shown>,
}

fn layout(frame: &Frame<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(frame.csrf);
                title { (frame.title) " · " (frame.tenant_name) }
                link rel="stylesheet" href="/pages/pages.css";
                script src="/pages/pages.js" defer {}
            }
            body data-page=(frame.page) data-base=(frame.base) data-return-to=(frame.return_to) {
                main {
                    p.tenant { (frame.tenant_name) }
                    h1 { (frame.title) }
                    // Always present so that script errors have a live region to go to.
                    @match frame.error {
                        Some(e) => p #error role="alert" data-code=(e.code) { (e.message) },
                        None => p #error role="alert" hidden {},
                    }
                    (body)
                }
            }
        }
    }
}

fn hidden_fields(frame: &Frame<'_>) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(frame.csrf);
        @if !frame.return_to.is_empty() {
            input type="hidden" name="return_to" value=(frame.return_to);
        }
    }
}

fn with_return_to(path: &str, return_to: &str) -> String {
    if return_to.is_empty() {
        path.to_owned()
    } else {
        let encoded: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish();
        format!("{path}?{encoded}")
    }
}

pub fn sign_in(frame: &Frame<'_>, email: &str) -> Markup {
    let base = frame.base;
    layout(
        frame,
        html! {
            form #sign-in-form method="post" action={ (base) "/sign-in" } {
                (hidden_fields(frame))
                label for="email" { "E-mail" }
                // `webauthn` lets the browser offer passkeys right in the e-mail field (autofill).
                input #email name="email" type="email" autocomplete="username webauthn" required
                    autofocus value=(email);
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p.alternative {
                // Shown by the script where the browser supports passkeys.
                button #passkey-sign-in type="button" hidden { "Sign in with a passkey" }
            }
            p { "No account yet? " a href=(with_return_to(&format!("{base}/sign-up"), frame.return_to)) { "Create one" } }
        },
    )
}

pub fn sign_up(frame: &Frame<'_>, email: &str) -> Markup {
    let base = frame.base;
    layout(
        frame,
        html! {
            form #sign-up-form method="post" action={ (base) "/sign-up" } {
                (hidden_fields(frame))
                label for="email" { "E-mail" }
                input #email name="email" type="email" autocomplete="username" required autofocus
                    value=(email);
                p.primary {
                    button #passkey-sign-up type="button" hidden { "Create account with a passkey" }
                }
                fieldset #password-option {
                    legend { "Or use a password" }
                    label for="password" { "Password (at least " (MIN_PASSWORD_CHARS) " characters)" }
                    input #password name="password" type="password" autocomplete="new-password"
                        minlength=(MIN_PASSWORD_CHARS) required;
                    button type="submit" { "Create account with a password" }
                }
            }
            p { "Already have an account? " a href=(with_return_to(&format!("{base}/sign-in"), frame.return_to)) { "Sign in" } }
        },
    )
}

/// The account page's facts.
#[derive(Debug)]
pub struct Account<'a> {
    pub email: &'a str,
    pub has_password: bool,
    pub sessions: &'a [SessionView],
    pub passkeys: &'a [PasskeyView],
}

/// `2026-12-01T12:33:52Z` as `2026-12-01 12:33 UTC`.
fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(minute)) => format!("{day} {minute} UTC"),
        _ => rfc3339.to_owned(),
    }
}

pub fn account(frame: &Frame<'_>, account: &Account<'_>) -> Markup {
    let base = frame.base;
    let csrf = frame.csrf;
    let last_way = !account.has_password && account.passkeys.len() == 1;
    layout(
        frame,
        html! {
            p { "Signed in as " strong #account-email { (account.email) } }
            form method="post" action={ (base) "/sign-out" } {
                input type="hidden" name="csrf" value=(csrf);
                button #sign-out type="submit" { "Sign out" }
            }

            section aria-labelledby="sessions-heading" {
                h2 #sessions-heading { "Where you are signed in" }
                ul #sessions {
                    @for s in account.sessions {
                        li data-session-id=(s.id) {
                            strong { (s.client) }
                            @if s.current { " " span.badge { "this browser" } }
                            br;
                            "Signed in " (when(&s.created_at)) ", last active " (when(&s.last_used_at))
                            @if !s.current {
                                form.inline method="post" action={ (base) "/account/sessions/" (s.id) "/sign-out" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" aria-label={ "Sign out " (s.client) } { "Sign out" }
                                }
                            }
                        }
                    }
                }
                form method="post" action={ (base) "/account/sign-out-everywhere" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button #sign-out-everywhere type="submit" { "Sign out everywhere" }
                }
            }

            section aria-labelledby="passkeys-heading" {
                h2 #passkeys-heading { "Passkeys" }
                @if account.passkeys.is_empty() {
                    p { "No passkeys yet. A passkey lets you sign in with your fingerprint, face or screen lock." }
                }
                ul #passkeys {
                    @for p in account.passkeys {
                        li data-passkey-id=(p.id) {
                            strong.passkey-name { (p.name) }
                            " · " @if p.synced { "synced across your devices" } @else { "on one device" }
                            br;
                            "Added " (when(&p.created_at)) ", "
                            @match &p.last_used_at {
                                Some(at) => { "last used " (when(at)) },
                                None => "never used yet",
                            }
                            form.inline method="post" action={ (base) "/account/passkeys/" (p.id) "/rename" } {
                                input type="hidden" name="csrf" value=(csrf);
                                label for={ "name-" (p.id) } { "New name" }
                                input id={ "name-" (p.id) } name="name" type="text" maxlength="64" required value=(p.name);
                                button type="submit" { "Rename" }
                            }
                            form.inline method="post" action={ (base) "/account/passkeys/" (p.id) "/delete" } {
                                input type="hidden" name="csrf" value=(csrf);
                                @if last_way {
                                    input id={ "confirm-" (p.id) } type="checkbox" name="confirm_last" value="true";
                                    label for={ "confirm-" (p.id) } { "This is your only way to sign in: delete it anyway" }
                                }
                                button type="submit" aria-label={ "Delete " (p.name) } { "Delete" }
                            }
                        }
                    }
                }
                button #add-passkey type="button" hidden { "Add a passkey" }
            }
        },
    )
}

/// A page that only says what went wrong (a refused form whose page cannot be shown again).
pub fn problem(frame: &Frame<'_>, back: &str) -> Markup {
    layout(
        frame,
        html! {
            p { a href=(back) { "Back" } }
        },
    )
}
