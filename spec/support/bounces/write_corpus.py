# Writes the hand-written notices of our own corpus into
# spec/support/bounces/<family>/: each one written from what its format
# is documented to say, with made-up addresses. Kept as a script because
# many are in a charset or a transfer encoding that is easier to check
# here, in plain text, than in the files themselves:
#
#   python3 spec/support/bounces/write_corpus.py spec/support/bounces
#
# The manifest of what each must read as is manifest.lua, beside it.
import base64, os, quopri, sys
root = sys.argv[1]

ORIG = """Return-Path: <bounces+tok{n}@news.example.com>
From: Example News <news@news.example.com>
To: {rcpt}
Subject: Your November news
Date: Mon, 04 Nov 2024 10:00:00 +0000
Message-ID: <tok{n}.20241104@news.example.com>
X-Mailcast-Recipient: tok{n}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, our November newsletter is here.
"""

def w(path, text, enc=None, eol="\n"):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    data = text.replace("\n", eol)
    data = data.encode(enc) if enc else data.encode("utf-8")
    with open(p, "wb") as f:
        f.write(data)

def wb(path, data):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)

def b64(s, cs):
    return base64.encodebytes(s.encode(cs)).decode("ascii")

def qp(s, cs="utf-8"):
    return quopri.encodestring(s.encode(cs)).decode("ascii")

# --- Lotus Domino / Notes: "was not delivered to:" then the address, "because:" then why.
w("domino/not-listed.eml", """From: Postmaster@mail.example.co.jp
To: bounces+tok1@news.example.com
Date: Mon, 4 Nov 2024 19:00:01 +0900
Subject: DELIVERY FAILURE: User taro (taro@example.co.jp) not listed in Domino Directory
MIME-Version: 1.0
Content-Type: text/plain; charset=US-ASCII

Your message

  Subject: Your November news

was not delivered to:

  taro@example.co.jp

because:

  User taro (taro@example.co.jp) not listed in Domino Directory

""" + ORIG.format(n=1, rcpt="taro@example.co.jp"))

w("domino/full.eml", """From: Postmaster@notes.example.com
To: bounces+tok2@news.example.com
Subject: DELIVERY FAILURE: Recipient's mailbox is full
MIME-Version: 1.0
Content-Type: text/plain; charset=US-ASCII

Your message

  Subject: Your November news

was not delivered to:

  hanako.suzuki@notes.example.com

because:

  Unable to deliver message: recipient's mail file is full (quota exceeded)
""")

# --- qmail: "<addr>:" then the reason; remote rejections quoted.
def qmail(path, n, failures, host="mx.example.net", headers="", returned=None, eol="\n"):
    """qmail-send's failure notice to bounces+tok<n>: FAILURES, its
    "<addr>:" paragraphs, each ending in a newline; HEADERS, more header
    lines; RETURNED, the recipient of the copy of the message that follows
    (none when None)."""
    text = """From: MAILER-DAEMON@%s
To: bounces+tok%d@news.example.com
Subject: failure notice
%s
Hi. This is the qmail-send program at %s.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

%s
--- Below this line is a copy of the message.
""" % (host, n, headers, host, "\n".join(failures))
    if returned:
        text += "\n" + ORIG.format(n=n, rcpt=returned)
    w(path, text, eol=eol)

qmail("qmail/remote-unknown.eml", 3, ["""<kenji@example.org>:
192.0.2.25 does not like recipient.
Remote host said: 550 5.1.1 <kenji@example.org>... User unknown
Giving up on 192.0.2.25.
"""], headers="Return-Path: <>\n", returned="kenji@example.org")

qmail("qmail/no-host.eml", 4, ["""<someone@nonexistent.example>:
Sorry, I couldn't find any host named nonexistent.example. (#5.1.2)
"""], returned="someone@nonexistent.example")

qmail("qmail/two-recipients.eml", 5, ["""<ana@example.net>:
Sorry, no mailbox here by that name. (#5.1.1)
""", """<bruno@example.net>:
Sorry, no mailbox here by that name. (#5.1.1)
"""])

# --- Courier, written as text only (no report part).
w("courier/unknown.eml", """From: Courier mail server at mx.example.org <@>
To: bounces+tok6@news.example.com
Subject: NOTICE: mail delivery status.
Return-Path: <>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

This is a delivery status notification from mx.example.org,
running the Courier mail server, version 1.1.8.

The original message was received on Mon, 04 Nov 2024 10:00:03 +0000
from news.example.com [192.0.2.10]

---------------------------------------------------------------------------

                           UNDELIVERABLE MAIL

Your message to the following recipients cannot be delivered:

<lucie@example.org>:
    mx2.example.org [192.0.2.44]:
>>> RCPT TO:<lucie@example.org>
<<< 550 5.1.1 <lucie@example.org>... User unknown

---------------------------------------------------------------------------

If your message was also sent to additional recipients, their delivery
status is not included in this report.
""")

# --- sendmail v5 and later: the transcript of the SMTP session.
w("sendmail/v5-unknown.eml", """From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.edu>
To: bounces+tok7@news.example.com
Subject: Returned mail: User unknown
Date: Mon, 4 Nov 1996 10:05:00 -0500

   ----- Transcript of session follows -----
While talking to mail.example.edu:
>>> RCPT To:<jsmith@example.edu>
<<< 550 <jsmith@example.edu>... User unknown
550 jsmith@example.edu... User unknown

   ----- Unsent message follows -----
""" + ORIG.format(n=7, rcpt="jsmith@example.edu"))

w("sendmail/after-data.eml", """From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>
To: bounces+tok8@news.example.com
Subject: Returned mail: see transcript for details
Auto-Submitted: auto-generated (failure)

The original message was received at Mon, 4 Nov 2024 10:00:05 GMT
from news.example.com [192.0.2.10]

   ----- The following addresses had permanent fatal errors -----
<pierre@example.fr>

   ----- Transcript of session follows -----
... while talking to mx.example.fr.:
>>> DATA
<<< 550 Unknown user pierre
554 5.0.0 Service unavailable

   ----- Original message follows -----
""" + ORIG.format(n=8, rcpt="pierre@example.fr"))

w("sendmail/rcpt-dialogue.eml", """From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>
To: bounces+tok9@news.example.com
Subject: Returned mail: see transcript for details

The original message was received at Mon, 4 Nov 2024 10:00:05 GMT

   ----- Transcript of session follows -----
... while talking to mx.example.de.:
>>> RCPT To:<klaus@example.de>
<<< 550 5.2.2 <klaus@example.de>... Mailbox full
... while talking to mx.example.de.:
>>> RCPT To:<greta@example.de>
<<< 550 5.1.1 <greta@example.de>... User unknown

   ----- Original message follows -----
""")

# --- RFC 821-era notice.
w("rfc821/mail-system-problem.eml", """From: MAILER-DAEMON@MAIL3.ARPA
To: JOE@HOSTX.ARPA
Subject: Mail System Problem
Date: 12 Aug 82 10:01:07 EDT

Sorry JOE, your message to ANN@MAIL4.ARPA lost.
MAIL4.ARPA said "550 No Such User"
""")

# --- Exchange 2003-era text.
w("exchange2003/unknown.eml", """From: System Administrator <postmaster@example.com>
To: bounces+tok10@news.example.com
Subject: Undeliverable: Your November news
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Your message did not reach some or all of the intended recipients.

      Subject:=09Your November news
      Sent:=094/11/2024 10:00

The following recipient(s) could not be reached:

      maria.lopez@example.com on 4/11/2024 10:00
            The e-mail account does not exist at the organization this messa=
ge was sent to.  Check the e-mail address, or contact the recipient directl=
y to find out the correct address.
            <mail.example.com #5.1.1>
""")

w("exchange2003/full.eml", """From: System Administrator <postmaster@corp.example.com>
To: bounces+tok11@news.example.com
Subject: Undeliverable: Your November news
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

Your message did not reach some or all of the intended recipients.

      Subject:  Your November news
      Sent:     4/11/2024 10:00

The following recipient(s) could not be reached:

      tom.baker@corp.example.com on 4/11/2024 10:01
            The recipient's mailbox is full and can't accept messages now.
            <exch1.corp.example.com #5.2.2>
""")

# --- IMail Server: "<reason>: <address>".
w("imail/unknown.eml", """From: Postmaster <postmaster@imail.example.com>
To: bounces+tok12@news.example.com
Subject: Undeliverable Mail
Return-Path: <>

Unknown user: jdoe@imail.example.com

Original message follows.

""" + ORIG.format(n=12, rcpt="jdoe@imail.example.com"))

w("imail/full.eml", """From: Postmaster <postmaster@imail.example.com>
To: bounces+tok13@news.example.com
Subject: Undeliverable Mail

User mailbox exceeds allowed size: fran@imail.example.com

Original message follows.
""")

# --- DragonFly Mail Agent.
w("dma/unknown.eml", """From: MAILER-DAEMON <MAILER-DAEMON@bsd.example.org>
To: bounces+tok14@news.example.com
Subject: Mail delivery failed
Auto-Submitted: auto-replied
Date: Mon, 4 Nov 2024 10:00:07 +0000

This is the DragonFly Mail Agent v0.13 at bsd.example.org.

There was an error delivering your mail to <olaf@example.no>.

remote delivery failed: mx.example.no [192.0.2.60] did not like our RCPT TO:
550 5.1.1 <olaf@example.no>: Recipient address rejected: User unknown in virtual mailbox table

Message headers follow.

""" + ORIG.format(n=14, rcpt="olaf@example.no").split("\n\n")[0] + "\n")

# --- Zoho: "addr, ERROR CODE :550 - text".
w("zoho/unavailable.eml", """From: mailer-daemon@mail.zoho.com
To: bounces+tok15@news.example.com
Subject: Undelivered Mail Returned to Sender

This message was created automatically by mail delivery software.
A message that you sent could not be delivered to one or more of its recipients. This is a permanent error.

priya@example.in, ERROR CODE :550 - Requested action not taken: mailbox unavailable

Received: from news.example.com by mx.zohomail.com
""")

# --- Amazon WorkMail style: the report's fields in a quoted-printable text part.
body = """An error occurred while trying to deliver the mail to the following recipients:
liang@example.cn

Reporting-MTA: dns; workmail.example.com
Final-Recipient: rfc822; liang@example.cn
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <liang@example.cn>: Recipient address rejected: User unknown in relay recipient table
"""
w("workmail/qp-fields.eml", """From: MAILER-DAEMON@us-east-1.workmail.example.com
To: bounces+tok16@news.example.com
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="wm-b1"

--wm-b1
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

""" + qp(body) + """
--wm-b1
Content-Type: message/rfc822

""" + ORIG.format(n=16, rcpt="liang@example.cn") + """
--wm-b1--
""")

body = """Delivery has failed to these recipients or groups:

Final-Recipient: rfc822; sofia@example.pt
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full
"""
w("workmail/base64-fields.eml", """From: MAILER-DAEMON@eu-west-1.workmail.example.com
To: bounces+tok17@news.example.com
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

""" + b64(body, "utf-8"))

# --- CR-only line endings (old Mac mail systems).
qmail("cr-only/qmail.eml", 18, ["""<yuki@example.jp>:
Sorry, no mailbox here by that name. (#5.1.1)
"""], eol="\r")

# --- A DSN whose status is 4.x.x with Action: failed, but whose words are specific.
def dsn(path, rcpt, status, diag, subject="Undelivered Mail Returned to Sender", text="Your message could not be delivered."):
    w(path, """From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: bounces+tok@news.example.com
Subject: %s
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b-dsn"

--b-dsn
Content-Type: text/plain; charset=us-ascii

%s

--b-dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; %s
Action: failed
Status: %s
Diagnostic-Code: smtp; %s

--b-dsn--
""" % (subject, text, rcpt, status, diag))

dsn("dsn-text-wins/blocked-4xx.eml", "hans@example.de", "4.7.1",
    "421 4.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org")
dsn("dsn-text-wins/unknown-4xx.eml", "lea@example.fr", "4.0.0",
    "450 4.0.0 <lea@example.fr>: Recipient address rejected: User unknown in local recipient table")
dsn("dsn-text-wins/timeout-4xx.eml", "kim@example.kr", "4.4.1",
    "connect to mx.example.kr[192.0.2.77]:25: Connection timed out")

# --- Exim: a refused sender and Bad SPF.
def exim_written(path, n, rcpt, why, returned=False):
    """Exim's text-only notice to bounces+tok<n> for RCPT: WHY, the
    indented lines under the address; RETURNED, whether the copy of the
    message follows."""
    text = """From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: bounces+tok%d@news.example.com
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: %s
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  %s
%s
------ This is a copy of the message, including all the headers. ------
""" % (n, rcpt, rcpt, why)
    if returned:
        text += "\n" + ORIG.format(n=n, rcpt=rcpt)
    w(path, text)

exim_written("exim-written/bad-spf.eml", 19, "nina@example.se", """    host mx.example.se [192.0.2.90]
    SMTP error from remote mail server after RCPT TO:<nina@example.se>:
    550 5.7.1 Bad SPF for 192.0.2.10: news.example.com is not allowed to send
""", returned=True)

exim_written("exim-written/sender-refused.eml", 20, "omar@example.ae", """    host mx.example.ae [192.0.2.91]
    SMTP error from remote mail server after MAIL FROM:<bounces+tok20@news.example.com> SIZE=2048:
    553 5.1.8 <bounces+tok20@news.example.com>: Sender address rejected: Domain not found
""")

# --- Non-English notices in their own charsets.
def textbounce(path, frm, subject, charset, cte, body, subject_raw=None):
    enc_body = body.encode(charset)
    if cte == "base64":
        payload = base64.encodebytes(enc_body)
    elif cte == "quoted-printable":
        payload = quopri.encodestring(enc_body)
    else:
        payload = enc_body
    hdr = ("From: %s\nTo: bounces+tok@news.example.com\nSubject: %s\nMIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=%s\nContent-Transfer-Encoding: %s\n\n"
           % (frm, subject_raw or subject, charset, cte)).encode("ascii")
    wb(path, hdr + payload)

textbounce("ja/iso2022jp-unknown.eml", "MAILER-DAEMON@mail.example.ne.jp", "Returned mail: User unknown",
    "iso-2022-jp", "7bit",
    "このメールは送信できませんでした。\n\n宛先: <taro.yamada@example.ne.jp>\n理由: 宛先のメールアドレスは存在しません。\n\n")
textbounce("ja/sjis-full.eml", "MAILER-DAEMON@mail.example.jp", "=?iso-2022-jp?b?GyRCR1s/LklURz0kTiQqQ04kaSQ7GyhC?=",
    "shift_jis", "base64",
    "以下の宛先へのメール配信に失敗しました。\n\n<hanako@example.jp>\nメールボックスの容量がいっぱいです。\n\n")
textbounce("ja/eucjp-blocked.eml", "MAILER-DAEMON@mx.example.or.jp", "Undelivered Mail",
    "euc-jp", "8bit",
    "メールを配送できませんでした。\n\n<ichiro@example.or.jp>:\n迷惑メールと判定されたため、受信を拒否しました。\n\n")
textbounce("de/latin1-unknown.eml", "Mail Delivery System <MAILER-DAEMON@mx.example.de>", "Unzustellbar: Ihre Nachricht",
    "iso-8859-1", "quoted-printable",
    "Ihre Nachricht konnte nicht zugestellt werden.\n\n<jürgen.müller@example.de>:\nDer Empfänger ist unbekannt. Das Postfach existiert nicht.\n\n")
textbounce("de/latin1-full.eml", "Mail Delivery System <MAILER-DAEMON@mx.example.de>", "Unzustellbar: Ihre Nachricht",
    "iso-8859-15", "quoted-printable",
    "Ihre Nachricht konnte nicht zugestellt werden.\n\n<uwe@example.de>:\nDas Postfach des Empfängers ist voll.\n\n")
textbounce("fr/latin1-unknown.eml", "MAILER-DAEMON@mx.example.fr", "Message non remis",
    "iso-8859-1", "8bit",
    "Votre message n'a pas pu être remis.\n\n<élodie@example.fr>:\nAdresse électronique inconnue : cette boîte aux lettres n'existe pas.\n\n")
textbounce("fr/utf8-full.eml", "MAILER-DAEMON@mx.example.fr", "Message non remis",
    "utf-8", "quoted-printable",
    "Votre message n'a pas pu être remis.\n\n<luc@example.fr>:\nLa boîte aux lettres du destinataire est pleine.\n\n")
textbounce("es/latin1-unknown.eml", "MAILER-DAEMON@mx.example.es", "No se puede entregar el mensaje",
    "iso-8859-1", "quoted-printable",
    "No se ha podido entregar su mensaje.\n\n<josé@example.es>:\nEl usuario no existe en este dominio.\n\n")
textbounce("es/utf8-spam.eml", "MAILER-DAEMON@mx.example.mx", "No se puede entregar el mensaje",
    "utf-8", "base64",
    "No se ha podido entregar su mensaje.\n\n<carmen@example.mx>:\nEl mensaje fue rechazado por ser considerado correo no deseado.\n\n")
textbounce("pt/latin1-full.eml", "MAILER-DAEMON@mx.example.com.br", "Mensagem não entregue",
    "iso-8859-1", "quoted-printable",
    "Não foi possível entregar a sua mensagem.\n\n<joão@example.com.br>:\nA caixa postal do destinatário está cheia.\n\n",
    subject_raw="=?ISO-8859-1?Q?Mensagem_n=E3o_entregue?=")
textbounce("pt/utf8-unknown.eml", "MAILER-DAEMON@mx.example.pt", "Mensagem não entregue",
    "utf-8", "8bit",
    "Não foi possível entregar a sua mensagem.\n\n<rita@example.pt>:\nUsuário desconhecido: a conta não existe.\n\n",
    subject_raw="=?UTF-8?Q?Mensagem_n=C3=A3o_entregue?=")
textbounce("ru/koi8r-unknown.eml", "MAILER-DAEMON@mx.example.ru", "Undelivered Mail Returned to Sender",
    "koi8-r", "8bit",
    "Ваше сообщение не может быть доставлено.\n\n<ivan@example.ru>:\nПользователь не найден.\n\n")
textbounce("ru/utf8-full.eml", "MAILER-DAEMON@mx.example.ru", "Undelivered Mail Returned to Sender",
    "utf-8", "base64",
    "Ваше сообщение не может быть доставлено.\n\n<olga@example.ru>:\nПочтовый ящик переполнен.\n\n")
textbounce("zh/gb2312-unknown.eml", "MAILER-DAEMON@mx.example.cn", "Undelivered Mail Returned to Sender",
    "gb2312", "base64",
    "您的邮件无法投递。\n\n<wei@example.cn>:\n收件人不存在。\n\n")
textbounce("zh/gbk-blocked.eml", "MAILER-DAEMON@mx.example.com.cn", "Undelivered Mail Returned to Sender",
    "gbk", "base64",
    "您的邮件无法投递。\n\n<fang@example.com.cn>:\n邮件被识别为垃圾邮件，已被拒收。\n\n")
textbounce("zh/utf8-toobig.eml", "MAILER-DAEMON@mx.example.tw", "Undelivered Mail Returned to Sender",
    "utf-8", "base64",
    "您的郵件無法投遞。\n\n<mei@example.tw>:\n郵件大小超過限制。\n\n")

# --- Wordings no shape knows: the one address the words name, and the
# returned message's To when the words name nobody.
textbounce("de/sentence-an.eml", "Mail Delivery System <MAILER-DAEMON@mx.example.de>", "Unzustellbar: Ihre Nachricht",
    "iso-8859-1", "quoted-printable",
    "Ihre Nachricht an <günther@example.de> konnte nicht zugestellt werden.\n"
    "Grund: Das Postfach existiert nicht.\n\nMit freundlichen Grüßen\nIhr Mailserver\n")
w("generic/returned-to.eml", """From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.at>
To: bounces+tok21@news.example.com
Subject: Mail delivery failed
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="gen-b"

--gen-b
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered: requested action not taken,
mailbox unavailable.

--gen-b
Content-Type: message/rfc822

""" + ORIG.format(n=21, rcpt="Karin Huber <karin@example.at>") + """
--gen-b--
""")

# --- Exchange 2007/2010 text: the name and address first, the
# administrators' part repeating the address with the "#550 ..." reply.
w("exchange2007/not-found.eml", """From: Microsoft Exchange <postmaster@corp.example.net>
To: bounces+tok22@news.example.com
Subject: Undeliverable: Your November news
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Delivery has failed to these recipients or groups:

Anna Berg (anna.berg@corp.example.net)
The e-mail address you entered couldn't be found. Please check the recipie=
nt's e-mail address and try to resend the message. If the problem continues=
, please contact your helpdesk.

Diagnostic information for administrators:

Generating server: exch01.corp.example.net

anna.berg@corp.example.net
#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##

Original message headers:

Received: from news.example.com (192.0.2.10) by exch01.corp.example.net
""")

# --- vpopmail under qmail: the address no longer accepts mail.
qmail("qmail/vpopmail-gone.eml", 23, ["""<old.member@example.org>:
This address no longer accepts mail.
"""], host="mail.example.org")

# --- Novell GroupWise: the address with its reason in parentheses.
w("groupwise/undeliverable.eml", """From: Mail Administrator <postmaster@gw.example.gov>
To: bounces+tok24@news.example.com
Subject: Undeliverable mail: Your November news

The message that you sent was undeliverable to the following:
	clerk@gw.example.gov (user not found)

Possible causes for this message:
	The e-mail address is incorrect.
""")

# --- A provider's sentence: "Your mail to <addr> could not be delivered".
w("provider/mail-to-sentence.eml", """From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>
To: bounces+tok25@news.example.com
Subject: Mail delivery failed

Your mail to pat.kelly@example.ie could not be delivered because the
recipient's mailbox is full. Please try again later.
""")

# --- A report whose delivery-status part is labelled text/plain.
w("mislabelled/report-as-text.eml", """From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: bounces+tok26@news.example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="mis-b"

--mis-b
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--mis-b
Content-Type: text/plain; charset=us-ascii

Reporting-MTA: dns; relay.example.net

Final-Recipient: rfc822; sven@example.se
Action: failed
Status: 5.2.1
Diagnostic-Code: smtp; 550 5.2.1 <sven@example.se>: Account disabled

--mis-b--
""")

# --- A Sieve "reject" (RFC 5429 2.1.1): an MDN whose disposition is an
# automatic "deleted", as Dovecot's Pigeonhole and others send it.
w("sieve/reject-mdn.eml", """Date: Mon, 4 Nov 2024 10:00:09 +0100
From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.it>
To: bounces+tok27@news.example.com
Subject: Automatically rejected mail
Auto-Submitted: auto-replied (rejected)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="rej-b"

--rej-b
Content-Type: text/plain; charset=utf-8

Your message to <marco@example.it> was automatically rejected:
I no longer accept mail from this list.

--rej-b
Content-Type: message/disposition-notification

Reporting-UA: mail.example.it; Dovecot Mail Delivery Agent
Final-Recipient: rfc822; marco@example.it
Original-Message-ID: <tok27.20241104@news.example.com>
Disposition: automatic-action/MDN-sent-automatically; deleted

--rej-b
Content-Type: message/rfc822

""" + ORIG.format(n=27, rcpt="marco@example.it") + """
--rej-b--
""")

# --- sendmail: two addresses listed, one transcript for both.
w("sendmail/two-listed.eml", """From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>
To: bounces+tok28@news.example.com
Subject: Returned mail: see transcript for details

The original message was received at Mon, 4 Nov 2024 10:00:05 GMT
from news.example.com [192.0.2.10]

   ----- The following addresses had permanent fatal errors -----
<ines@example.com>
<joao@example.com>

   ----- Transcript of session follows -----
... while talking to mx.example.com.:
>>> DATA
<<< 550 5.1.1 User unknown
550 5.1.1 <ines@example.com>... User unknown

   ----- Original message follows -----
""")

# --- The recipient named only in the subject; the words name a helpdesk.
w("provider/subject-only.eml", """From: Mail Delivery System <mailer-daemon@mx.example.co.uk>
To: bounces+tok29@news.example.com
Subject: Undeliverable: ruth.evans@example.co.uk

We could not deliver your message: the recipient's mailbox is
unavailable (account closed). For help, write to help@example.co.uk.
""")

# --- Italian and Dutch.
textbounce("it/latin1-unknown.eml", "MAILER-DAEMON@mx.example.it", "Messaggio non consegnato",
    "iso-8859-1", "quoted-printable",
    "Non è stato possibile consegnare il messaggio.\n\n<giulia@example.it>:\nUtente sconosciuto: la casella non esiste.\n\n")
textbounce("nl/utf8-full.eml", "MAILER-DAEMON@mx.example.nl", "Onbestelbaar: uw bericht",
    "utf-8", "quoted-printable",
    "Uw bericht kon niet worden afgeleverd.\n\n<daan@example.nl>:\nHet postvak van de ontvanger is vol.\n\n")
