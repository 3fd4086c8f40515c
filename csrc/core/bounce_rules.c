#include "bounce_rules.h"

#include <string.h>

#define R(p, r) {p, MC_REASON_##r}

/* In order: the first match wins, so a phrase that would also match a
 * broader rule further down comes first ("sender address rejected"
 * before "address rejected", "domain does not exist" before "does not
 * exist", TLS before "expired"). Phrases come from the providers' and
 * MTAs' published reply texts; the bare words ("spam", "policy",
 * "quota") are the last resort of their group. */
static const mc_text_rule_t rules[] = {
  /* Our side: the sender refused (its address, or Exim's "Bad SPF"
   * verdict on the sending host), relaying, the connection's identity. */
  R("sender address rejected", BLOCKED),
  R("sender verify failed", BLOCKED),
  R("sender verification failed", BLOCKED),
  R("sender domain", BLOCKED),
  R("sender rejected", BLOCKED),
  R("sender refused", BLOCKED),
  R("bad spf", BLOCKED),
  R("relay access denied", POLICY),
  R("relaying denied", POLICY),
  R("relay not permitted", POLICY),
  R("not permitted to relay", POLICY),
  R("unable to relay", POLICY),
  R("we do not relay", POLICY),
  R("relaying not allowed", POLICY),
  R("allowed rcpthosts", POLICY),                  /* qmail's relay refusal */
  R("invalid helo", POLICY),
  R("bad helo", POLICY),
  R("cannot find your hostname", POLICY),          /* Postfix reject_unknown_client */
  R("cannot find your reverse hostname", POLICY),
  R("reverse dns", POLICY),
  R("|ptr record", POLICY),
  R("|rdns|", POLICY),
  R("helo command rejected", POLICY),

  /* Volume: per-recipient and per-sender rate limits, greylisting. */
  R("receiving mail at a rate", RATE_LIMITED),      /* Gmail 450 4.2.1 */
  R("receiving mail too quickly", RATE_LIMITED),
  R("unusual rate of unsolicited mail", RATE_LIMITED), /* Gmail 421 4.7.28 */
  R("[tss04]", RATE_LIMITED),                       /* Yahoo: volume or complaints */
  R("temporarily deferred", RATE_LIMITED),
  R("too many connections", RATE_LIMITED),
  R("too many concurrent", RATE_LIMITED),
  R("too many messages", RATE_LIMITED),
  R("too many recipients", RATE_LIMITED),
  R("too many emails", RATE_LIMITED),
  R("sending quota", RATE_LIMITED),
  R("sending limit", RATE_LIMITED),
  R("daily * limit", RATE_LIMITED),
  R("daily * quota", RATE_LIMITED),
  R("rate limit", RATE_LIMITED),
  R("rate-limit", RATE_LIMITED),
  R("ratelimit", RATE_LIMITED),
  R("rate exceeded", RATE_LIMITED),
  R("exceeded the rate", RATE_LIMITED),
  R("throttl", RATE_LIMITED),
  R("greylist", RATE_LIMITED),
  R("graylist", RATE_LIMITED),
  R("grey-list", RATE_LIMITED),
  R("slow down", RATE_LIMITED),
  R("connection limit", RATE_LIMITED),

  /* Our IP or domain on a block list or with a bad reputation. */
  R("spamhaus", BLOCKED),
  R("spamcop", BLOCKED),
  R("|sorbs", BLOCKED),
  R("barracudacentral", BLOCKED),
  R("barracuda reputation", BLOCKED),
  R("|dnsbl", BLOCKED),
  R("|rbl|", BLOCKED),
  R("|uceprotect", BLOCKED),
  R("blocked using", BLOCKED),
  R("banned sending ip", BLOCKED),                  /* Microsoft 5.7.606-649 */
  R("on our block list", BLOCKED),                  /* Microsoft S3150 */
  R("block list", BLOCKED),
  R("blocklist", BLOCKED),
  R("blacklist", BLOCKED),
  R("black list", BLOCKED),
  R("denylist", BLOCKED),
  R("deny list", BLOCKED),
  R("[ts01]", BLOCKED),                             /* Yahoo deferrals for the IP */
  R("[ts02]", BLOCKED),
  R("[ts03]", BLOCKED),
  R("[bl21]", BLOCKED),
  R("[bl22]", BLOCKED),
  R("[bl23]", BLOCKED),
  R("permanently deferred", BLOCKED),
  R("reputation", BLOCKED),                         /* Gmail "very low reputation" */
  R("client host rejected", BLOCKED),
  R("client host * blocked", BLOCKED),
  R("your ip * blocked", BLOCKED),
  R("ip address * blocked", BLOCKED),
  R("ip * has been blocked", BLOCKED),
  R("sending ip * blocked", BLOCKED),
  R("listed at", BLOCKED),
  R("is listed on", BLOCKED),
  R("ip * listed", BLOCKED),
  R("does not accept mail from", BLOCKED),
  R("dynamic ip", BLOCKED),
  R("dynamic address", BLOCKED),
  R("dynamically assigned", BLOCKED),
  R("residential ip", BLOCKED),
  R("sender blocked", BLOCKED),
  R("sender denied", BLOCKED),
  R("poor sender", BLOCKED),
  R("黑名单", BLOCKED),
  R("blacklisté", BLOCKED),
  R("schwarze liste", BLOCKED),
  R("lista negra", BLOCKED),
  R("черн* спис", BLOCKED),
  R("liste noire", BLOCKED),
  R("ip * gesperrt", BLOCKED),
  R("bloqué", BLOCKED),
  R("bloquead", BLOCKED),

  /* Authentication of the message: SPF, DKIM, DMARC, ARC. */
  R("|spf|", POLICY),
  R("|dkim|", POLICY),
  R("|dmarc|", POLICY),
  R("|arc validation", POLICY),
  R("sender policy framework", POLICY),
  R("unauthenticated", POLICY),
  R("authentication check", POLICY),
  R("does not have authentication information", POLICY),
  R("fails to pass authentication", POLICY),
  R("not authenticated", POLICY),

  /* The message looked like spam or carried something dangerous. */
  R("virus", CONTENT),
  R("malware", CONTENT),
  R("infected", CONTENT),
  R("phish", SPAM),
  R("spam", SPAM),
  R("unsolicited", SPAM),
  R("junk mail", SPAM),
  R("junkmail", SPAM),
  R("|uce|", SPAM),
  R("bulk email", SPAM),
  R("bulk mail", SPAM),
  R("nature of the content", SPAM),                 /* Gmail 4.7.0 content */
  R("suspicious", SPAM),
  R("correo no deseado", SPAM),
  R("courrier indésirable", SPAM),
  R("indésirable", SPAM),
  R("pourriel", SPAM),
  R("lixo eletrônico", SPAM),
  R("mensagem indesejada", SPAM),
  R("спам", SPAM),
  R("垃圾邮件", SPAM),
  R("垃圾郵件", SPAM),
  R("迷惑メール", SPAM),
  R("unerwünscht", SPAM),
  R("indesejad", SPAM),
  R("content filter", CONTENT),
  R("content rejected", CONTENT),
  R("message content", CONTENT),
  R("rejected due to content", CONTENT),
  R("prohibited attachment", CONTENT),
  R("attachment", CONTENT),
  R("file type", CONTENT),
  R("line too long", CONTENT),
  R("8bit", CONTENT),
  R("8-bit", CONTENT),
  R("non-ascii", CONTENT),
  R("header * too long", CONTENT),
  R("invalid header", CONTENT),
  R("message header", CONTENT),

  /* The recipient's mailbox is full. "file too large" is Postfix's
   * mailbox_size_limit, so it must come before the size rules. */
  R("file too large", MAILBOX_FULL),
  R("over quota", MAILBOX_FULL),
  R("overquota", MAILBOX_FULL),
  R("over its quota", MAILBOX_FULL),
  R("quota exceeded", MAILBOX_FULL),
  R("exceeded * quota", MAILBOX_FULL),
  R("exceeds * quota", MAILBOX_FULL),
  R("mailbox full", MAILBOX_FULL),
  R("mailbox is full", MAILBOX_FULL),
  R("mailbox * is full", MAILBOX_FULL),
  R("mailbox * full", MAILBOX_FULL),
  R("inbox is full", MAILBOX_FULL),
  R("inbox full", MAILBOX_FULL),
  R("full mailbox", MAILBOX_FULL),
  R("storage allocation", MAILBOX_FULL),           /* RFC 5321's 552 text */
  R("out of storage", MAILBOX_FULL),
  R("storage full", MAILBOX_FULL),
  R("not enough storage", MAILBOX_FULL),
  R("insufficient disk", MAILBOX_FULL),
  R("disk quota", MAILBOX_FULL),
  R("not enough disk space", MAILBOX_FULL),
  R("mailbox size limit", MAILBOX_FULL),
  R("user has exceeded", MAILBOX_FULL),
  R("mailbox exceeds", MAILBOX_FULL),             /* IMail */
  R("mailbox size exceeded", MAILBOX_FULL),
  R("folder is full", MAILBOX_FULL),
  R("space not enough", MAILBOX_FULL),
  R("not enough space", MAILBOX_FULL),
  R("postfach * voll", MAILBOX_FULL),
  R("postfach ist voll", MAILBOX_FULL),
  R("speicherplatz", MAILBOX_FULL),
  R("boîte aux lettres * pleine", MAILBOX_FULL),
  R("boite aux lettres * pleine", MAILBOX_FULL),
  R("est pleine", MAILBOX_FULL),
  R("buzón * lleno", MAILBOX_FULL),
  R("buzón lleno", MAILBOX_FULL),
  R("está lleno", MAILBOX_FULL),
  R("caixa postal * cheia", MAILBOX_FULL),
  R("caixa de correio * cheia", MAILBOX_FULL),
  R("está cheia", MAILBOX_FULL),
  R("переполнен", MAILBOX_FULL),
  R("квота", MAILBOX_FULL),
  R("überfüllt", MAILBOX_FULL),
  R("speicherkontingent", MAILBOX_FULL),
  R("caixa * lotada", MAILBOX_FULL),
  R("cota excedida", MAILBOX_FULL),
  R("casella * piena", MAILBOX_FULL),
  R("postvak * vol", MAILBOX_FULL),
  R("mailbox * vol|", MAILBOX_FULL),
  R("已满", MAILBOX_FULL),
  R("已滿", MAILBOX_FULL),
  R("邮箱已满", MAILBOX_FULL),
  R("信箱已滿", MAILBOX_FULL),
  R("空间不足", MAILBOX_FULL),
  R("容量がいっぱい", MAILBOX_FULL),
  R("容量オーバー", MAILBOX_FULL),
  R("容量を超え", MAILBOX_FULL),
  R("いっぱい", MAILBOX_FULL),
  R("quota", MAILBOX_FULL),

  /* The message is too big. */
  R("message size exceeds", TOO_BIG),
  R("message size * exceeds", TOO_BIG),
  R("size exceeds", TOO_BIG),
  R("exceeds * size limit", TOO_BIG),
  R("exceeds * maximum * size", TOO_BIG),
  R("exceeded maximum * size", TOO_BIG),
  R("maximum message size", TOO_BIG),
  R("message too big", TOO_BIG),
  R("message too large", TOO_BIG),
  R("message is too big", TOO_BIG),
  R("message is too large", TOO_BIG),
  R("message length exceeds", TOO_BIG),
  R("too large", TOO_BIG),
  R("larger than * allowed", TOO_BIG),
  R("message is larger than", TOO_BIG),
  R("too big", TOO_BIG),
  R("size limit", TOO_BIG),
  R("zu groß", TOO_BIG),
  R("zu gross", TOO_BIG),
  R("trop gros", TOO_BIG),
  R("taille * dépasse", TOO_BIG),
  R("excede el tamaño", TOO_BIG),
  R("excede o tamanho", TOO_BIG),
  R("превышает * размер", TOO_BIG),
  R("太大", TOO_BIG),
  R("过大", TOO_BIG),
  R("大きすぎ", TOO_BIG),
  R("trop volumineux", TOO_BIG),
  R("demasiado grande", TOO_BIG),
  R("muito grande", TOO_BIG),
  R("слишком большой", TOO_BIG),
  R("大小超过", TOO_BIG),
  R("大小超過", TOO_BIG),
  R("サイズが大き", TOO_BIG),
  R("サイズ制限", TOO_BIG),

  /* The mailbox exists but is closed. */
  R("account * disabled", MAILBOX_DISABLED),
  R("mailbox * disabled", MAILBOX_DISABLED),
  R("user * disabled", MAILBOX_DISABLED),
  R("address * disabled", MAILBOX_DISABLED),
  R("is disabled", MAILBOX_DISABLED),
  R("has been disabled", MAILBOX_DISABLED),
  R("account * suspended", MAILBOX_DISABLED),
  R("mailbox * suspended", MAILBOX_DISABLED),
  R("user * suspended", MAILBOX_DISABLED),
  R("account * inactive", MAILBOX_DISABLED),
  R("mailbox * inactive", MAILBOX_DISABLED),
  R("inactive account", MAILBOX_DISABLED),
  R("inactive mailbox", MAILBOX_DISABLED),
  R("inactive user", MAILBOX_DISABLED),
  R("is inactive", MAILBOX_DISABLED),
  R("deactivated", MAILBOX_DISABLED),
  R("konto * gesperrt", MAILBOX_DISABLED),
  R("ящик * заблокирован", MAILBOX_DISABLED),
  R("account * locked", MAILBOX_DISABLED),
  R("account * expired", MAILBOX_DISABLED),
  R("account * closed", MAILBOX_DISABLED),
  R("mailbox * closed", MAILBOX_DISABLED),
  R("no longer active", MAILBOX_DISABLED),
  R("no longer in use", MAILBOX_DISABLED),
  R("mailbox has moved", MAILBOX_DISABLED),

  /* The recipient's domain does not exist or takes no mail. */
  R("host or domain name not found", HOST_UNKNOWN),  /* Postfix */
  R("domain name not found", HOST_UNKNOWN),
  R("domain not found", HOST_UNKNOWN),
  R("domain does not exist", HOST_UNKNOWN),
  R("domain * does not exist", HOST_UNKNOWN),
  R("no such domain", HOST_UNKNOWN),
  R("unknown domain", HOST_UNKNOWN),
  R("unrouteable mail domain", HOST_UNKNOWN),
  R("point to non-existent hosts", HOST_UNKNOWN),   /* Exim: MX to nowhere */
  R("name lookup failure", HOST_UNKNOWN),
  R("host not found", HOST_UNKNOWN),
  R("no such host", HOST_UNKNOWN),
  R("host unknown", HOST_UNKNOWN),
  R("unknown host", HOST_UNKNOWN),
  R("|nxdomain", HOST_UNKNOWN),
  R("|null mx", HOST_UNKNOWN),
  R("|nullmx", HOST_UNKNOWN),
  R("does not accept mail", HOST_UNKNOWN),          /* RFC 7504 521/556 */
  R("no mx record", HOST_UNKNOWN),
  R("domain doesn't exist", HOST_UNKNOWN),
  R("unroutable mail domain", HOST_UNKNOWN),
  R("unroutable domain", HOST_UNKNOWN),
  R("unrouteable domain", HOST_UNKNOWN),
  R("has no valid mx", HOST_UNKNOWN),
  R("name service error", HOST_UNKNOWN),
  R("no mail exchanger", HOST_UNKNOWN),
  R("domain existiert nicht", HOST_UNKNOWN),
  R("domaine * n'existe pas", HOST_UNKNOWN),
  R("dominio no existe", HOST_UNKNOWN),
  R("domínio não existe", HOST_UNKNOWN),
  R("домен не найден", HOST_UNKNOWN),
  R("域名不存在", HOST_UNKNOWN),

  /* The mailbox does not exist. */
  R("email account that you tried to reach does not exist", USER_UNKNOWN), /* Gmail */
  R("address couldn't be found", USER_UNKNOWN),     /* Gmail's own notice */
  R("recipientnotfound", USER_UNKNOWN),             /* Microsoft RESOLVER.ADR */
  R("recipnotfound", USER_UNKNOWN),
  R("recipient address rejected: access denied", USER_UNKNOWN), /* Microsoft DBEB */
  R("doesn't have a", USER_UNKNOWN),                /* Yahoo "doesn't have a yahoo.com account" */
  R("does not have a", USER_UNKNOWN),
  R("no mailbox here by that name", USER_UNKNOWN),  /* qmail */
  R("user unknown", USER_UNKNOWN),
  R("unknown user", USER_UNKNOWN),
  R("user not found", USER_UNKNOWN),
  R("no such user", USER_UNKNOWN),
  R("no such local user", USER_UNKNOWN),
  R("undeliverable address", USER_UNKNOWN),         /* Postfix reject_unverified_recipient */
  R("address was not found", USER_UNKNOWN),         /* Exchange 2003 */
  R("unknown account", USER_UNKNOWN),
  R("unknown mailbox", USER_UNKNOWN),
  R("mailbox unknown", USER_UNKNOWN),
  R("bad address syntax", USER_UNKNOWN),
  R("recipient not valid", USER_UNKNOWN),
  R("not exist", USER_UNKNOWN),
  R("no longer accepts mail", USER_UNKNOWN),        /* vpopmail */
  R("addressee unknown", USER_UNKNOWN),
  R("address unknown", USER_UNKNOWN),
  R("invalid user", USER_UNKNOWN),
  R("user invalid", USER_UNKNOWN),
  R("not a known user", USER_UNKNOWN),
  R("no valid recipients", USER_UNKNOWN),
  R("unknown local-part", USER_UNKNOWN),
  R("local part * unknown", USER_UNKNOWN),
  R("doesn't exist", USER_UNKNOWN),
  R("unroutable address", USER_UNKNOWN),
  R("no such mailbox", USER_UNKNOWN),
  R("no such recipient", USER_UNKNOWN),
  R("no such address", USER_UNKNOWN),
  R("no such person", USER_UNKNOWN),
  R("no such account", USER_UNKNOWN),
  R("unknown recipient", USER_UNKNOWN),
  R("recipient unknown", USER_UNKNOWN),
  R("unknown address", USER_UNKNOWN),
  R("unknown or illegal alias", USER_UNKNOWN),
  R("unknown local part", USER_UNKNOWN),
  R("unrouteable address", USER_UNKNOWN),           /* Exim: no router took it */
  R("recipient not found", USER_UNKNOWN),
  R("mailbox not found", USER_UNKNOWN),
  R("mailbox unavailable", USER_UNKNOWN),           /* Outlook.com 5.5.0 */
  R("mailbox does not exist", USER_UNKNOWN),
  R("mailbox * does not exist", USER_UNKNOWN),
  R("address does not exist", USER_UNKNOWN),
  R("user does not exist", USER_UNKNOWN),
  R("account does not exist", USER_UNKNOWN),
  R("recipient does not exist", USER_UNKNOWN),
  R("does not exist", USER_UNKNOWN),
  R("invalid recipient", USER_UNKNOWN),
  R("invalid mailbox", USER_UNKNOWN),
  R("invalid address", USER_UNKNOWN),
  R("not a valid mailbox", USER_UNKNOWN),
  R("not a valid user", USER_UNKNOWN),
  R("is not a valid", USER_UNKNOWN),
  R("bad destination mailbox", USER_UNKNOWN),
  R("address rejected", USER_UNKNOWN),
  R("not our customer", USER_UNKNOWN),
  R("not a registered", USER_UNKNOWN),
  R("no mailbox", USER_UNKNOWN),
  R("user not local", USER_UNKNOWN),
  R("not listed in domino directory", USER_UNKNOWN),        /* Lotus Domino */
  R("not listed in public name & address book", USER_UNKNOWN),
  /* Other languages. */
  R("unbekannt", USER_UNKNOWN),
  R("existiert nicht", USER_UNKNOWN),
  R("inconnu", USER_UNKNOWN),
  R("n'existe pas", USER_UNKNOWN),
  R("desconocido", USER_UNKNOWN),
  R("no existe", USER_UNKNOWN),
  R("desconhecido", USER_UNKNOWN),
  R("não existe", USER_UNKNOWN),
  R("inexistente", USER_UNKNOWN),
  R("inesistente", USER_UNKNOWN),
  R("sconosciuto", USER_UNKNOWN),
  R("onbekend", USER_UNKNOWN),
  R("introuvable", USER_UNKNOWN),
  R("nicht vorhanden", USER_UNKNOWN),
  R("ungültige * adresse", USER_UNKNOWN),
  R("ungültiger empfänger", USER_UNKNOWN),
  R("adresse invalide", USER_UNKNOWN),
  R("несуществующ", USER_UNKNOWN),
  R("无此用户", USER_UNKNOWN),
  R("無此用戶", USER_UNKNOWN),
  R("不存在", USER_UNKNOWN),
  R("пользователь не найден", USER_UNKNOWN),
  R("не существует", USER_UNKNOWN),
  R("нет такого", USER_UNKNOWN),
  R("收件人不存在", USER_UNKNOWN),
  R("用户不存在", USER_UNKNOWN),
  R("用戶不存在", USER_UNKNOWN),
  R("帐号不存在", USER_UNKNOWN),
  R("邮箱不存在", USER_UNKNOWN),
  R("存在しません", USER_UNKNOWN),
  R("宛先不明", USER_UNKNOWN),
  R("見つかりません", USER_UNKNOWN),

  /* Gave up after retrying. */
  R("message expired", EXPIRED),
  R("delivery time expired", EXPIRED),
  R("delivery expired", EXPIRED),
  R("retry timeout exceeded", EXPIRED),             /* Exim */
  R("retry time not reached for any host after a long failure", EXPIRED),
  R("could not be delivered for", EXPIRED),         /* sendmail "for 5 days" */
  R("cannot send message for", EXPIRED),
  R("giving up", EXPIRED),
  R("i've given up", EXPIRED),
  R("too long in queue", EXPIRED),
  R("in the queue too long", EXPIRED),
  R("queue too long", EXPIRED),
  R("could not be delivered within", EXPIRED),
  R("time limit exceeded", EXPIRED),

  /* The connection: TCP and TLS. */
  R("|tls", NETWORK),
  R("starttls", NETWORK),
  R("|ssl", NETWORK),
  R("certificate", NETWORK),
  R("handshake", NETWORK),
  R("encryption required", NETWORK),
  R("timed out", NETWORK),
  R("timeout", NETWORK),
  R("connection refused", NETWORK),
  R("connection reset", NETWORK),
  R("connection dropped", NETWORK),
  R("lost connection", NETWORK),
  R("broken pipe", NETWORK),
  R("network is unreachable", NETWORK),
  R("network is down", NETWORK),        /* Courier, for a connection it could not make */
  R("no route to host", NETWORK),
  R("unreachable", NETWORK),
  R("no answer from host", NETWORK),
  R("connect to", NETWORK),

  /* The receiving system's own trouble. */
  R("mail loop", SYSTEM),
  R("loops back to myself", SYSTEM),
  R("too many hops", SYSTEM),
  R("routing loop", SYSTEM),
  R("insufficient system storage", SYSTEM),
  R("system storage", SYSTEM),
  R("local error", SYSTEM),
  R("internal error", SYSTEM),
  R("internal server error", SYSTEM),
  R("system error", SYSTEM),
  R("server error", SYSTEM),
  R("configuration error", SYSTEM),
  R("misconfigur", SYSTEM),
  R("service unavailable", SYSTEM),
  R("service not available", SYSTEM),
  R("temporarily unavailable", SYSTEM),
  R("temporary failure", SYSTEM),
  R("temporary problem", SYSTEM),
  R("local problem", SYSTEM),
  R("try again later", SYSTEM),

  /* Last: the broad words of refusal. */
  R("after mail from", BLOCKED),                   /* Exim: the command refused was ours */
  R("administrative prohibition", POLICY),         /* Exim's ACL default */
  R("policy", POLICY),
  R("access denied", POLICY),
  R("not authorized", POLICY),
  R("unauthorized", POLICY),
  R("not allowed", POLICY),
  R("not permitted", POLICY),
  R("authentication", POLICY),
  R("prohibited", POLICY),
  R("rejected", POLICY),
  R("refused", POLICY),
  R("denied", POLICY),
  R("拒否", POLICY),
  R("拒绝", POLICY),
  R("拒收", POLICY),
  R("blocked", BLOCKED),
};


const mc_text_rule_t *mc_rules_table(size_t *n) {
  *n = sizeof rules / sizeof rules[0];
  return rules;
}


static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}


static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }


/* Length of a continuation prefix "550-" or "550-5.1.1" at s, or 0.
 * Folded servers' replies repeat it on every line ("... Please try
 * 550-5.1.1 double-checking"), and it would split phrases. */
static size_t continuation_prefix(const unsigned char *s, size_t n) {
  if (n < 4 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || s[3] != '-') return 0;
  size_t i = 4;
  size_t j = i;
  int dots = 0;
  while (j < n && (is_digit(s[j]) || s[j] == '.')) dots += s[j++] == '.';
  if (dots == 2 && j > i) i = j;
  if (i < n && !is_space(s[i])) return 0;
  return i;
}


/* The lower case of the two-byte UTF-8 capital c0 c1 into out[0..2):
 * Latin-1's (À-Þ but ×) and Cyrillic's (Ѐ-Я), the scripts of the
 * phrases above. Returns 0 for anything else. */
static int utf8_lower(unsigned char c0, unsigned char c1, char *out) {
  if (c0 == 0xC3 && c1 >= 0x80 && c1 <= 0x9E && c1 != 0x97) {
    out[0] = (char)0xC3;
    out[1] = (char)(c1 + 0x20);
  } else if (c0 == 0xD0 && c1 >= 0x90 && c1 <= 0x9F) {
    out[0] = (char)0xD0;
    out[1] = (char)(c1 + 0x20);
  } else if (c0 == 0xD0 && c1 >= 0xA0 && c1 <= 0xAF) {
    out[0] = (char)0xD1;
    out[1] = (char)(c1 - 0x20);
  } else if (c0 == 0xD0 && c1 >= 0x80 && c1 <= 0x8F) {
    out[0] = (char)0xD1;
    out[1] = (char)(c1 + 0x10);
  } else {
    return 0;
  }
  return 1;
}


size_t mc_rules_normalize(const char *s, size_t n, char *out, size_t cap) {
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0;
  if (cap < 2) return 0;
  out[o++] = ' ';
  int at_word = 1;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    if (is_space(u[i])) {
      if (out[o - 1] != ' ') out[o++] = ' ';
      at_word = 1;
      continue;
    }
    if (at_word) {
      size_t skip = continuation_prefix(u + i, n - i);
      if (skip) { i += skip - 1; continue; }
    }
    at_word = 0;
    unsigned char c = u[i];
    if (c >= 0xC3 && i + 1 < n && o + 2 < cap && utf8_lower(c, u[i + 1], out + o)) {
      o += 2;
      i++;
      continue;
    }
    out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  if (out[o - 1] != ' ' && o < cap) out[o++] = ' ';
  return o;
}


static int is_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || is_digit(c) || c >= 0x80;
}


/* Matches pieces[k..] with piece k starting in [from, last]. */
static int match_pieces(const char *const *pieces, const size_t *lens, size_t np, size_t k,
                        const char *t, size_t n, size_t from, size_t last, int edge_end) {
  while (from <= last && from + lens[k] <= n) {
    const char *hit = memmem(t + from, n - from, pieces[k], lens[k]);
    if (hit == NULL) return 0;
    size_t at = (size_t)(hit - t);
    if (at > last) return 0;
    size_t end = at + lens[k];
    if (k + 1 == np) {
      if (!edge_end || end >= n || !is_word((unsigned char)t[end])) return 1;
    } else {
      /* "mailbox * full" also matches "mailbox full": the gap may be
       * empty, the two pieces then sharing the space between them. */
      size_t next = end;
      if (pieces[k][lens[k] - 1] == ' ' && pieces[k + 1][0] == ' ') next--;
      size_t next_last = end + MC_RULES_MAX_GAP;
      if (match_pieces(pieces, lens, np, k + 1, t, n, next, next_last, edge_end)) return 1;
    }
    from = at + 1;
  }
  return 0;
}


int mc_rule_matches(const char *pattern, const char *norm, size_t n) {
  char buf[160];
  size_t plen = strlen(pattern);
  int edge_start = 0, edge_end = 0;
  if (plen > 0 && pattern[0] == '|') { edge_start = 1; pattern++; plen--; }
  if (plen > 0 && pattern[plen - 1] == '|') { edge_end = 1; plen--; }
  if (plen == 0 || plen >= sizeof buf) return 0;
  memcpy(buf, pattern, plen);
  buf[plen] = '\0';
  const char *pieces[4];
  size_t lens[4];
  size_t np = 0;
  char *p = buf;
  while (np < 4) {
    char *star = strchr(p, '*');
    if (star) *star = '\0';
    pieces[np] = p;
    lens[np] = strlen(p);
    np++;
    if (star == NULL) break;
    p = star + 1;
  }
  for (size_t i = 0; i < np; i++) if (lens[i] == 0) return 0;
  if (!edge_start) return match_pieces(pieces, lens, np, 0, norm, n, 0, n, edge_end);
  /* Try each occurrence whose start is at a word edge. */
  size_t from = 0;
  while (from + lens[0] <= n) {
    const char *hit = memmem(norm + from, n - from, pieces[0], lens[0]);
    if (hit == NULL) return 0;
    size_t at = (size_t)(hit - norm);
    if (at == 0 || !is_word((unsigned char)norm[at - 1])) {
      if (match_pieces(pieces, lens, np, 0, norm, n, at, at, edge_end)) return 1;
    }
    from = at + 1;
  }
  return 0;
}


/* Byte pairs of the text, hashed into 8192 bits: a rule whose first
 * piece starts or ends with a pair the text does not have cannot match,
 * and most rules are turned away by two looks instead of a search. */
typedef struct {
  unsigned char bits[1024];
} pairs_t;


static unsigned pair_hash(unsigned char a, unsigned char b) {
  return ((unsigned)a * 131u + b) & 8191u;
}


static void pairs_of(const char *t, size_t n, pairs_t *p) {
  memset(p->bits, 0, sizeof p->bits);
  for (size_t i = 0; i + 1 < n; i++) {
    unsigned h = pair_hash((unsigned char)t[i], (unsigned char)t[i + 1]);
    p->bits[h >> 3] |= (unsigned char)(1u << (h & 7));
  }
}


static int has_pair(const pairs_t *p, const char *at) {
  unsigned h = pair_hash((unsigned char)at[0], (unsigned char)at[1]);
  return (p->bits[h >> 3] >> (h & 7)) & 1;
}


static int may_match(const pairs_t *p, const char *pattern) {
  if (pattern[0] == '|') pattern++;
  size_t len = strcspn(pattern, "*|");   /* the first piece */
  if (len < 2) return 1;
  return has_pair(p, pattern) && has_pair(p, pattern + len - 2);
}


int mc_rules_any(const char *const *patterns, size_t count, const char *norm, size_t n) {
  pairs_t pairs;
  pairs_of(norm, n, &pairs);
  for (size_t i = 0; i < count; i++)
    if (may_match(&pairs, patterns[i]) && mc_rule_matches(patterns[i], norm, n)) return 1;
  return 0;
}


const mc_text_rule_t *mc_rules_find(const char *norm, size_t n) {
  pairs_t pairs;
  pairs_of(norm, n, &pairs);
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (may_match(&pairs, rules[i].pattern) && mc_rule_matches(rules[i].pattern, norm, n))
      return &rules[i];
  return NULL;
}
