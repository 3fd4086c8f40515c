/* Telling a bounce from an auto-reply from an ordinary message. A bounce
 * written without a report is recognised only when its sender is a mail
 * system and its words say delivery failed: a person's reply that quotes
 * "Undelivered Mail Returned to Sender" has neither sender nor envelope
 * of one, and must never cost a subscriber their address. */
#include <string.h>
#include <strings.h>

#include "bounce_internal.h"
#include "bounce_rules.h"


static int any(const char *norm, size_t n, const char *const *phrases, size_t count) {
  return mc_rules_any(phrases, count, norm, n);
}


static const char *const daemon_locals[] = {
  "mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "maildaemon",
  "postmaster", "mdaemon", "mail.daemon", "double-bounce",
};

static const char *const daemon_names[] = {
  "mail delivery", "mailer-daemon", "mailer daemon", "postmaster", "delivery subsystem",
  "mail administrator", "courier mail server", "system administrator", "mail system",
};


int mc_bounce_from_daemon(const mc_entity_t *root) {
  const char *from = mc_entity_field(root, "From");
  if (from == NULL) return 0;
  size_t n = strlen(from);
  size_t at, len;
  const char *lt = memchr(from, '<', n);
  const char *name_end = lt ? lt : from + n;
  if (mc_bounce_find_addr(from, n, lt ? (size_t)(lt - from) : 0, &at, &len) ||
      mc_bounce_find_addr(from, n, 0, &at, &len)) {
    const char *addr = from + at;
    const char *sign = memchr(addr, '@', len);
    size_t local = (size_t)(sign - addr);
    for (size_t i = 0; i < sizeof daemon_locals / sizeof daemon_locals[0]; i++)
      if (strlen(daemon_locals[i]) == local && strncasecmp(addr, daemon_locals[i], local) == 0)
        return 1;
    if (local >= 17 && strncasecmp(addr, "microsoftexchange", 17) == 0) return 1;  /* 365 NDRs */
    if (!lt) name_end = addr;
  } else if (mc_bounce_icontains(from, n, "mailer-daemon")) {
    return 1;   /* "MAILER-DAEMON" without a domain */
  }
  for (size_t i = 0; i < sizeof daemon_names / sizeof daemon_names[0]; i++)
    if (mc_bounce_icontains(from, (size_t)(name_end - from), daemon_names[i])) return 1;
  return 0;
}


/* RFC 5321 4.5.5: notifications travel with an empty reverse path,
 * which the delivering MTA records as "Return-Path: <>". */
static int null_return_path(const mc_entity_t *root) {
  const char *rp = mc_entity_field(root, "Return-Path");
  if (rp == NULL) return 0;
  while (*rp == ' ' || *rp == '\t') rp++;
  return strncmp(rp, "<>", 2) == 0 || strncasecmp(rp, "<MAILER-DAEMON>", 15) == 0;
}


static const char *const bounce_subjects[] = {
  "undeliver", "undelivered mail", "returned mail", "delivery status notification",
  "delivery failure", "delivery failed", "mail delivery failed", "failure notice",
  "delivery notification", "non-deliver", "nondeliver", "non deliver", "could not be delivered",
  "not delivered", "message not delivered", "mail system error", "returned to sender",
  "delivery problem", "could not send message", "delivery delayed", "delayed mail",
  "warning: could not", "delivery has failed", "address not found", "unzustellbar",
  "non remis", "no se puede entregar", "mail system problem", "mail delivery status",
  /* The same in other languages, as their providers write them. */
  "nicht zugestellt", "non délivré", "non distribuable", "no entregado", "não entregue",
  "nao entregue", "non recapitabile", "onbestelbaar", "niet bezorgd", "non consegnato", "не доставлено", "недоставлен",
  "退信", "无法投递", "無法投遞", "配信不能", "配送不能",
};

static const char *const bounce_words[] = {
  "this is a permanent error", "could not be delivered", "couldn't be delivered",
  "wasn't delivered", "was not delivered", "i'm afraid i wasn't able to deliver",
  "delivery has failed", "unable to deliver", "undeliverable", "could not deliver",
  "delivery to the following recipient", "following address(es) failed",
  "addresses had permanent fatal errors", "had transient non-fatal errors",
  "your message did not reach", "mail delivery failed", "message delivery failed",
  "delivery failed", "permanent failure", "returned to sender", "delivery status notification",
  "has not yet been delivered", "still undelivered", "not been delivered", "cannot be delivered",
  "the following recipient(s) cannot be reached", "failed permanently",
  "temporary failure", "delivery to these recipients", "rejected your message",
  "there was an error delivering", "was not delivered to", "failed to deliver",
  "undelivered mail", "non-delivery", "returned mail", "permanent error",
  /* A mail system's message that names a failure is a bounce too. */
  "user unknown", "unknown user", "no such user", "mailbox is full", "quota exceeded",
  "konnte nicht zugestellt werden", "nicht zugestellt werden", "n'a pas pu être remis",
  "n'a pas pu etre remis", "no se ha podido entregar", "no pudo ser entregado",
  "não foi possível entregar", "nao foi possivel entregar", "не может быть доставлено",
  "не удалось доставить", "无法投递", "無法投遞", "投递失败", "送信できませんでした",
  "配送できませんでした", "配信できませんでした", "配信に失敗",
  "non è stato possibile consegnare", "impossibile consegnare", "kon niet worden afgeleverd",
  "niet worden bezorgd", "nie może zostać dostarczona", "nie została dostarczona",
};


static int text_says(const char *s, size_t n, const char *const *phrases, size_t count) {
  char norm[MC_RULES_MAX_TEXT];
  size_t len = mc_rules_normalize(s ? s : "", s ? n : 0, norm, sizeof norm);
  return any(norm, len, phrases, count);
}


/* RFC 3834: a message a machine sent on its own says so. */
static int auto_submitted(const mc_entity_t *root) {
  const char *v = mc_entity_field(root, "Auto-Submitted");
  return v && strncasecmp(v, "no", 2) != 0;
}


int mc_bounce_looks_bounced(const mc_entity_t *root, const char *subject,
                            const char *norm, size_t n) {
  if (mc_entity_field(root, "X-Failed-Recipients")) return 1;   /* Exim says so itself */
  int subj = text_says(subject, subject ? strlen(subject) : 0, bounce_subjects,
                       sizeof bounce_subjects / sizeof bounce_subjects[0]);
  int words = any(norm, n, bounce_words, sizeof bounce_words / sizeof bounce_words[0]);
  if (mc_bounce_from_daemon(root)) return subj || words;
  return (null_return_path(root) || auto_submitted(root)) && subj && words;
}


static const char *const delay_words[] = {
  "warning message only", "will keep trying", "will continue trying", "will retry",
  "still trying", "delivery is delayed", "has been delayed", "has not yet been delivered",
  "not yet been delivered", "still undelivered", "transient non-fatal errors",
  "delivery delayed", "delayed mail", "delivery status notification (delay)",
};


int mc_bounce_says_delayed(const char *subject, const char *norm, size_t n) {
  static const char *const final_words[] = {
    "this is a permanent error", "permanent fatal", "failed permanently", "giving up", "given up",
  };
  if (any(norm, n, final_words, sizeof final_words / sizeof final_words[0])) return 0;
  return text_says(subject, subject ? strlen(subject) : 0, delay_words,
                   sizeof delay_words / sizeof delay_words[0]) ||
         any(norm, n, delay_words, sizeof delay_words / sizeof delay_words[0]);
}


/* Subjects that begin an automatic answer, in the languages mail
 * clients send them in. Only at the start: "Re: out of office plans" is
 * a person writing. */
static const char *const auto_subjects[] = {
  "out of office", "out of the office", "automatic reply", "auto reply", "auto-reply",
  "autoreply", "auto:", "auto response", "autoresponse", "automatic response",
  "auto-response", "vacation", "on vacation", "away from", "i am away", "i'm away",
  "abwesend", "abwesenheit", "automatische antwort", "réponse automatique",
  "reponse automatique", "absence", "respuesta automática", "respuesta automatica",
  "fuera de la oficina", "risposta automatica", "automatisch antwoord", "afwezig",
  "autosvar", "frånvarande",
};


static int prefixed(const char *s, const char *const *list, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (strncasecmp(s, list[i], strlen(list[i])) == 0) return 1;
  return 0;
}


/* Whether s starts with one of list, or a "[tag]" does: "[Auto-Reply]
 * ...", "[External] Out of office ...". */
static int starts_with_any(const char *s, const char *const *list, size_t count) {
  while (*s == ' ' || *s == '\t') s++;
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL) return 0;
    if (prefixed(s + 1, list, count)) return 1;
    s = close + 1;
    while (*s == ' ') s++;
  }
  return prefixed(s, list, count);
}


static int field_is(const mc_entity_t *root, const char *name, const char *value) {
  const char *v = mc_entity_field(root, name);
  if (v == NULL) return 0;
  size_t n = strlen(value);
  return strncasecmp(v, value, n) == 0 && (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}


int mc_bounce_is_autoreply(const mc_entity_t *root, const char *subject) {
  /* RFC 3834 5: "auto-replied" is an answer; "auto-generated" alone is
   * any machine's message (a newsletter may say it), so it needs more. */
  if (field_is(root, "Auto-Submitted", "auto-replied")) return 1;
  if (field_is(root, "Precedence", "auto_reply")) return 1;
  const char *xa = mc_entity_field(root, "X-Autoreply");
  if (xa && strncasecmp(xa, "no", 2) != 0) return 1;
  if (mc_entity_field(root, "X-Autorespond") || mc_entity_field(root, "X-Autoresponder")) return 1;
  return subject && starts_with_any(subject, auto_subjects, sizeof auto_subjects / sizeof auto_subjects[0]);
}
