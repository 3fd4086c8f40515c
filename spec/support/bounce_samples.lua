-- Labelled bounce samples: what comes back to a bounce address, in the
-- formats MTAs and mailbox providers write (modeled on their documented
-- formats, written for these tests), the examples of RFC 3464 and RFC
-- 5965, auto-replies, and ordinary messages that must never be taken for
-- a bounce. Used by spec/unit/bounce_spec.lua, bench/bounce (which makes
-- thousands of them with varied recipients) and the fuzz seeds.
--
-- A sample's template has placeholders: ${RCPT} the recipient that
-- failed, ${TOKEN} the VERP tag of the bounce address, ${MSGID} the
-- returned message's Message-ID, ${ORIG} the returned message (header
-- and body), ${ORIGHDR} its header only. expect says what the parser must
-- find: kind, and for each recipient its address, reason, hard, action;
-- verp and message_id are checked when the sample returns the original.
local M = {}

local ORIG_HEADER = [[
Return-Path: <bounces+${TOKEN}@news.example.com>
Received: from mta1.news.example.com (mta1.news.example.com [192.0.2.10])
	by mx.example.org with ESMTPS id 4XyZ12aB; Mon, 04 Nov 2024 10:00:01 +0000
From: Example News <news@news.example.com>
To: <${RCPT}>
Subject: Your November news
Date: Mon, 04 Nov 2024 10:00:00 +0000
Message-ID: ${MSGID}
X-Mailcast-Campaign: november
X-Mailcast-Recipient: ${TOKEN}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
]]

local ORIG = ORIG_HEADER .. [[

Hello,

our November newsletter is here: the autumn catalogue, the opening
hours over the holidays and the winners of the photo competition.

Kind regards,
The Example team
]]

M.samples = {}
local function sample(t) M.samples[#M.samples + 1] = t end

-- RFC 3464 appendix: a simple DSN (a sendmail report of a delay that
-- became a failure after five days).
sample {
  name = "rfc3464_simple", returns = false,
  expect = { kind = "dsn", reporting_mta = "cs.utk.edu", recipients = {
    { address = "louisl@larry.slip.umd.edu", reason = "expired", hard = false, action = "failed", status = "4.0.0" },
  } },
  template = [[
Date: Thu, 7 Jul 1994 17:16:05 -0400
From: Mail Delivery Subsystem <MAILER-DAEMON@CS.UTK.EDU>
Message-Id: <199407072116.RAA14128@CS.UTK.EDU>
Subject: Returned mail: Cannot send message for 5 days
To: <owner-info-mime@cs.utk.edu>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="RAA14128.773615765/CS.UTK.EDU"

--RAA14128.773615765/CS.UTK.EDU

The original message was received at Sat, 2 Jul 1994 17:10:28 -0400
from root@localhost

    ----- The following addresses had delivery problems -----
<louisl@larry.slip.umd.edu>  (unrecoverable error)

    ----- Transcript of session follows -----
<louisl@larry.slip.umd.edu>... Deferred: Connection timed out
                                with larry.slip.umd.edu.
Message could not be delivered for 5 days
Message will be deleted from queue

--RAA14128.773615765/CS.UTK.EDU
content-type: message/delivery-status

Reporting-MTA: dns; cs.utk.edu

Original-Recipient: rfc822;louisl@larry.slip.umd.edu
Final-Recipient: rfc822;louisl@larry.slip.umd.edu
Action: failed
Status: 4.0.0
Diagnostic-Code: smtp; 426 connection timed out
Last-Attempt-Date: Thu, 7 Jul 1994 17:15:49 -0400

--RAA14128.773615765/CS.UTK.EDU
content-type: message/rfc822

[original message goes here]

--RAA14128.773615765/CS.UTK.EDU--
]],
}

-- RFC 3464 appendix: a multi-recipient DSN, one recipient delayed.
sample {
  name = "rfc3464_multi", returns = false,
  expect = { kind = "dsn", reporting_mta = "cs.utk.edu", recipients = {
    { address = "arathib@vnet.ibm.com", reason = "user_unknown", hard = true, action = "failed", status = "5.0.0 (permanent failure)", remote_mta = "vnet.ibm.com" },
    { address = "johnh@hpnjld.njd.hp.com", reason = "host_unknown", hard = false, action = "delayed" },
    { address = "wsnell@sdcc13.ucsd.edu", reason = "user_unknown", hard = true, action = "failed", code = 550 },
  } },
  template = [[
Date: Fri, 8 Jul 1994 09:21:47 -0400
From: Mail Delivery Subsystem <MAILER-DAEMON@CS.UTK.EDU>
Subject: Returned mail: User unknown
To: <owner-ups-mib@CS.UTK.EDU>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
      boundary="JAA13167.773673707/CS.UTK.EDU"

--JAA13167.773673707/CS.UTK.EDU
content-type: text/plain; charset=us-ascii

      ----- The following addresses had delivery problems -----
<arathib@vnet.ibm.com>  (unrecoverable error)
<wsnell@sdcc13.ucsd.edu>  (unrecoverable error)

--JAA13167.773673707/CS.UTK.EDU
content-type: message/delivery-status

Reporting-MTA: dns; cs.utk.edu

Original-Recipient: rfc822;arathib@vnet.ibm.com
Final-Recipient: rfc822;arathib@vnet.ibm.com
Action: failed
Status: 5.0.0 (permanent failure)
Diagnostic-Code: smtp;  550 'arathib@vnet.IBM.COM' is not a
      registered gateway user
Remote-MTA: dns; vnet.ibm.com

Original-Recipient: rfc822;johnh@hpnjld.njd.hp.com
Final-Recipient: rfc822;johnh@hpnjld.njd.hp.com
Action: delayed
Status: 4.0.0 (hpnjld.njd.jp.com: host name lookup failure)

Original-Recipient: rfc822;wsnell@sdcc13.ucsd.edu
Final-Recipient: rfc822;wsnell@sdcc13.ucsd.edu
Action: failed
Status: 5.0.0
Diagnostic-Code: smtp; 550 user unknown
Remote-MTA: dns; sdcc13.ucsd.edu

--JAA13167.773673707/CS.UTK.EDU
content-type: message/rfc822

[original message goes here]

--JAA13167.773673707/CS.UTK.EDU--
]],
}

-- RFC 5965 appendix B.2: an abuse report with the optional fields.
sample {
  name = "rfc5965_full", returns = false,
  expect = { kind = "complaint", feedback_type = "abuse", source_ip = "192.0.2.1",
    original_mail_from = "somespammer@example.net", reporting_mta = "mail.example.com",
    message_id = "8787KJKJ3K4J3K4J3K4J3.mail@example.net",
    recipients = { { address = "user@example.com", reason = "complaint", hard = true } } },
  template = [[
From: <abusedesk@example.com>
Date: Thu, 8 Mar 2005 17:40:36 EDT
Subject: FW: Earn money
To: <abuse@example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.  For more information
about this format please see http://www.mipassoc.org/arf/.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <somespammer@example.net>
Original-Rcpt-To: <user@example.com>
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT
Reporting-MTA: dns; mail.example.com
Source-IP: 192.0.2.1
Authentication-Results: mail.example.com;
               spf=fail smtp.mail=somespammer@example.com
Reported-Domain: example.net
Reported-Uri: http://example.net/earn_money.html
Reported-Uri: mailto:user@example.com
Removal-Recipient: user@example.com

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <somespammer@example.net>
Received: from mailserver.example.net (mailserver.example.net
        [192.0.2.1]) by example.com with ESMTP id M63d4137594e46;
        Tue, 08 Mar 2005 14:00:00 -0400
To: <Undisclosed Recipients>
Subject: Earn money
MIME-Version: 1.0
Content-type: text/plain
Message-ID: 8787KJKJ3K4J3K4J3K4J3.mail@example.net
Date: Thu, 02 Sep 2004 12:31:03 -0500

Spam Spam Spam
Spam Spam Spam
Spam Spam Spam
Spam Spam Spam
--part1_13d.2e68ed54_boundary--
]],
}

-- RFC 5965 appendix B.1: the minimal report, no recipient named; ours
-- is the returned message with our identifiers.
sample {
  name = "arf_minimal", returns = true,
  expect = { kind = "complaint", feedback_type = "abuse", recipients = {
    { address = "${RCPT}", reason = "complaint", hard = true } } },
  template = [[
From: <fbl@isp.example>
Date: Tue, 05 Nov 2024 08:12:40 +0000
Subject: Abuse report
To: <fbl+${TOKEN}@news.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="arf-7c1e"

--arf-7c1e
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for a message received from IP
192.0.2.10 on Mon, 04 Nov 2024 10:00:01 +0000.

--arf-7c1e
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/2.1
Version: 1

--arf-7c1e
Content-Type: message/rfc822
Content-Disposition: inline

${ORIG}
--arf-7c1e--
]],
}

-- A feedback loop that names the recipient, as the big ones do.
sample {
  name = "arf_provider", returns = true,
  expect = { kind = "complaint", feedback_type = "abuse", source_ip = "192.0.2.10",
    original_mail_from = "bounces+${TOKEN}@news.example.com",
    recipients = { { address = "${RCPT}", reason = "complaint", hard = true } } },
  template = [[
Return-Path: <>
From: Feedback Loop <feedback@fbl.mail.example>
To: fbl@news.example.com
Subject: Complaint about message from 192.0.2.10
Date: Tue, 05 Nov 2024 09:30:00 +0000
Message-ID: <fbl.884422@fbl.mail.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="fbl_boundary_01"

--fbl_boundary_01
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

A user marked the attached message as spam.

--fbl_boundary_01
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL-Reporter/1.0
Version: 1
Original-Mail-From: <bounces+${TOKEN}@news.example.com>
Original-Rcpt-To: <${RCPT}>
Arrival-Date: Mon, 04 Nov 2024 10:00:01 +0000
Source-IP: 192.0.2.10
Reported-Domain: news.example.com

--fbl_boundary_01
Content-Type: text/rfc822-headers

${ORIGHDR}
--fbl_boundary_01--
]],
}

-- qmail's text bounce (qmail-send's QSBMF), a user that does not exist.
sample {
  name = "qmail_unknown", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "user_unknown", hard = true, action = "failed", status = "5.1.1" } } },
  template = [[
Return-Path: <>
Delivered-To: bounces+${TOKEN}@news.example.com
Received: (qmail 31337 invoked for bounce); 4 Nov 2024 10:00:03 -0000
Date: 4 Nov 2024 10:00:03 -0000
From: MAILER-DAEMON@mail.example.net
To: bounces+${TOKEN}@news.example.com
Subject: failure notice

Hi. This is the qmail-send program at mail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<${RCPT}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

${ORIG}]],
}

-- qmail relaying to a server that says the mailbox is full.
sample {
  name = "qmail_full", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "mailbox_full", hard = false, action = "failed", code = 552 } } },
  template = [[
Return-Path: <>
Date: 4 Nov 2024 10:05:10 -0000
From: MAILER-DAEMON@relay.example.net
To: bounces+${TOKEN}@news.example.com
Subject: failure notice

Hi. This is the qmail-send program at relay.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<${RCPT}>:
198.51.100.7 does not like recipient.
Remote host said: 552 5.2.2 <${RCPT}>... Mailbox is full
Giving up on 198.51.100.7.

--- Below this line is a copy of the message.

${ORIG}]],
}

-- Exim's classic text bounce with X-Failed-Recipients.
sample {
  name = "exim_unknown", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "user_unknown", hard = true, action = "failed", code = 550 } } },
  template = [[
Return-path: <>
Envelope-to: bounces+${TOKEN}@news.example.com
Received: from mailnull by mx.example.org with local (Exim 4.97)
	id 1tA2bC-000XyZ-9d
	for bounces+${TOKEN}@news.example.com; Mon, 04 Nov 2024 10:00:02 +0000
X-Failed-Recipients: ${RCPT}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.example.org>
To: bounces+${TOKEN}@news.example.com
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1tA2bC-000XyZ-9d@mx.example.org>
Date: Mon, 04 Nov 2024 10:00:02 +0000

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ${RCPT}
    host mx1.example.com [203.0.113.25]
    SMTP error from remote mail server after RCPT TO:<${RCPT}>:
    550 5.1.1 <${RCPT}>: Recipient address rejected: User unknown in virtual mailbox table

------ This is a copy of the message, including all the headers. ------

${ORIG}]],
}

-- Exim: a domain whose MX points nowhere.
sample {
  name = "exim_bad_domain", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "host_unknown", hard = true, action = "failed" } } },
  template = [[
Return-path: <>
X-Failed-Recipients: ${RCPT}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@relay.example.org>
To: bounces+${TOKEN}@news.example.com
Subject: Mail delivery failed: returning message to sender
Date: Mon, 04 Nov 2024 10:00:02 +0000

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ${RCPT}
    all relevant MX records point to non-existent hosts

------ This is a copy of the message, including all the headers. ------

${ORIG}]],
}

-- Exim giving up after its retry rules ran out.
sample {
  name = "exim_retry_timeout", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "expired", hard = false, action = "failed" } } },
  template = [[
Return-path: <>
X-Failed-Recipients: ${RCPT}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@relay.example.org>
To: bounces+${TOKEN}@news.example.com
Subject: Mail delivery failed: returning message to sender
Date: Fri, 08 Nov 2024 10:00:02 +0000

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ${RCPT}
    retry timeout exceeded

------ This is a copy of the message, including all the headers. ------

${ORIG}]],
}

-- Exim with only the header of the original, and an unrouteable address.
sample {
  name = "exim_unrouteable", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "user_unknown", hard = true } } },
  template = [[
Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mx.example.org>
To: bounces+${TOKEN}@news.example.com
Subject: Mail delivery failed: returning message to sender
Date: Mon, 04 Nov 2024 10:00:02 +0000

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ${RCPT}
    Unrouteable address

------ This is a copy of the message's headers. ------

${ORIGHDR}]],
}

-- sendmail's DSN: an RBL block, with the transcript and headers only.
sample {
  name = "sendmail_rbl", returns = true,
  expect = { kind = "dsn", reporting_mta = "mail.example.edu", recipients = {
    { address = "${RCPT}", reason = "blocked", hard = false, action = "failed", status = "5.7.1", remote_mta = "mx.example.edu" } } },
  template = [[
Return-Path: <>
Date: Mon, 4 Nov 2024 05:00:05 -0500
From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.edu>
Message-Id: <202411041000.4A4A05x1012345@mail.example.edu>
To: <bounces+${TOKEN}@news.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4A4A05x1012345.1730714405/mail.example.edu"
Subject: Returned mail: see transcript for details
Auto-Submitted: auto-generated (failure)

This is a MIME-encapsulated message

--4A4A05x1012345.1730714405/mail.example.edu

The original message was received at Mon, 4 Nov 2024 05:00:04 -0500
from mta1.news.example.com [192.0.2.10]

   ----- The following addresses had permanent fatal errors -----
<${RCPT}>
    (reason: 550 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org)

   ----- Transcript of session follows -----
... while talking to mx.example.edu.:
>>> MAIL From:<bounces+${TOKEN}@news.example.com> SIZE=1803
<<< 550 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org
554 5.0.0 Service unavailable

--4A4A05x1012345.1730714405/mail.example.edu
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.edu
Received-From-MTA: DNS; mta1.news.example.com
Arrival-Date: Mon, 4 Nov 2024 05:00:04 -0500

Final-Recipient: RFC822; ${RCPT}
Action: failed
Status: 5.7.1
Remote-MTA: DNS; mx.example.edu
Diagnostic-Code: SMTP; 550 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org
Last-Attempt-Date: Mon, 4 Nov 2024 05:00:05 -0500

--4A4A05x1012345.1730714405/mail.example.edu
Content-Type: text/rfc822-headers

${ORIGHDR}
--4A4A05x1012345.1730714405/mail.example.edu--
]],
}

-- sendmail's warning that delivery is only delayed, without a report.
sample {
  name = "sendmail_warning", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "network", hard = false, action = "delayed" } } },
  template = [[
Return-Path: <>
Date: Mon, 4 Nov 2024 09:00:00 -0500
From: Mail Delivery Subsystem <MAILER-DAEMON@gw.example.edu>
To: <bounces+${TOKEN}@news.example.com>
Subject: Warning: could not send message for past 4 hours

    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

The original message was received at Mon, 4 Nov 2024 05:00:04 -0500
from mta1.news.example.com [192.0.2.10]

   ----- The following addresses had transient non-fatal errors -----
<${RCPT}>

   ----- Transcript of session follows -----
<${RCPT}>... Deferred: Connection timed out with mx.example.edu.
Warning: message still undelivered after 4 hours
Will keep trying until message is 5 days old

   ----- Original message follows -----
${ORIG}]],
}

-- Microsoft 365: a DSN whose text has the admin section, recipient not
-- found (5.1.10, which the registry calls null MX).
sample {
  name = "m365_not_found", returns = true,
  expect = { kind = "dsn", reporting_mta = "AM9PR01MB1234.eurprd01.prod.outlook.com", recipients = {
    { address = "${RCPT}", reason = "user_unknown", hard = true, action = "failed", status = "5.1.10" } } },
  template = [[
From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example>
To: <bounces+${TOKEN}@news.example.com>
Date: Mon, 4 Nov 2024 10:00:04 +0000
Content-Type: multipart/report; report-type=delivery-status;
	boundary="2d4bb6d3-0c85-4bd1-8a3e-5c3f0a9e2b11"
MIME-Version: 1.0
Message-ID: <3b1d9f3c-1e5a-4a4e-9d57-8a9c1f2e7d10@AM9PR01MB1234.eurprd01.prod.outlook.com>
Subject: Undeliverable: Your November news
Auto-Submitted: auto-replied

--2d4bb6d3-0c85-4bd1-8a3e-5c3f0a9e2b11
Content-Type: multipart/alternative; differences=Content-Type;
	boundary="d6a5b1a0-7a3f-4a1e-b0ad-0a4e1f6f9c22"

--d6a5b1a0-7a3f-4a1e-b0ad-0a4e1f6f9c22
Content-Type: text/plain; charset="us-ascii"

Your message to ${RCPT} couldn't be delivered.

${RCPT} wasn't found at contoso.example.

news   Office 365   ${RCPT}
Action Required                                   Recipient

Unknown To address

How to Fix It
The address may be misspelled or may not exist. Try one or more of the following:
Retype the recipient's address, then resend the message.

Diagnostic information for administrators:

Generating server: AM9PR01MB1234.eurprd01.prod.outlook.com

${RCPT}
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'

Original message headers:

Received: from mta1.news.example.com (192.0.2.10) by AM9PR01MB1234.mail.protection.outlook.com
 with Microsoft SMTP Server; Mon, 4 Nov 2024 10:00:03 +0000
From: Example News <news@news.example.com>
To: <${RCPT}>

--d6a5b1a0-7a3f-4a1e-b0ad-0a4e1f6f9c22
Content-Type: text/html; charset="us-ascii"

<html><body><p>Your message to ${RCPT} couldn't be delivered.</p></body></html>

--d6a5b1a0-7a3f-4a1e-b0ad-0a4e1f6f9c22--

--2d4bb6d3-0c85-4bd1-8a3e-5c3f0a9e2b11
Content-Type: message/delivery-status

Reporting-MTA: dns;AM9PR01MB1234.eurprd01.prod.outlook.com
Received-From-MTA: dns;mta1.news.example.com
Arrival-Date: Mon, 4 Nov 2024 10:00:03 +0000

Final-Recipient: rfc822;${RCPT}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--2d4bb6d3-0c85-4bd1-8a3e-5c3f0a9e2b11
Content-Type: message/rfc822

${ORIG}
--2d4bb6d3-0c85-4bd1-8a3e-5c3f0a9e2b11--
]],
}

-- Exchange's older text notice, no report.
sample {
  name = "exchange_text", returns = false,
  expect = { kind = "bounce", verp = "${TOKEN}", recipients = { { address = "${RCPT}", reason = "user_unknown", hard = true, action = "failed", status = "5.1.1" } } },
  template = [[
From: System Administrator <postmaster@corp.example>
To: bounces+${TOKEN}@news.example.com
Subject: Undeliverable: Your November news
Date: Mon, 4 Nov 2024 11:02:17 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

Your message did not reach some or all of the intended recipients.

      Subject:	Your November news
      Sent:	11/4/2024 11:02 AM

The following recipient(s) cannot be reached:

      ${RCPT} on 11/4/2024 11:02 AM
            The e-mail account does not exist at the organization this message was sent to.  Check the e-mail address, or contact the recipient directly to find out the correct address.
            <mx.corp.example #5.1.1>
]],
}

-- Gmail's own notice (a DSN), address not found.
sample {
  name = "gmail_not_found", returns = true,
  expect = { kind = "dsn", recipients = { { address = "${RCPT}", reason = "user_unknown", hard = true, action = "failed", status = "5.1.1", code = 550 } } },
  template = [[
Return-Path: <>
Received: by 2002:a05:6000:1:b0:38a:1 with SMTP id a1csp1234567wrb;
        Mon, 04 Nov 2024 02:00:04 -0800 (PST)
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bounces+${TOKEN}@news.example.com
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
Message-ID: <6728a1b4.050a0220.1a2b3c.abcdGMR@mx.google.com>
Date: Mon, 04 Nov 2024 02:00:04 -0800 (PST)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1b2c3d4e5f60718"; report-type=delivery-status

--000000000000a1b2c3d4e5f60718
Content-Type: multipart/related; boundary="000000000000a1b2c3d4e5f60719"

--000000000000a1b2c3d4e5f60719
Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f6071a"

--000000000000a1b2c3d4e5f6071a
Content-Type: text/plain; charset="UTF-8"


** Address not found **

Your message wasn't delivered to ${RCPT} because the address couldn't be found, or is unable to receive mail.

Learn more here: https://support.google.com/mail/?p=NoSuchUser

The response was:

550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser a1b2c3d4e5f6-12345.67 - gsmtp

--000000000000a1b2c3d4e5f6071a
Content-Type: text/html; charset="UTF-8"

<html><body><h2>Address not found</h2><p>Your message wasn't delivered to <a style='color:#212121;text-decoration:none'><b>${RCPT}</b></a> because the address couldn't be found.</p></body></html>

--000000000000a1b2c3d4e5f6071a--

--000000000000a1b2c3d4e5f60719--

--000000000000a1b2c3d4e5f60718
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; bounces+${TOKEN}@news.example.com
Arrival-Date: Mon, 04 Nov 2024 02:00:03 -0800 (PST)
X-Original-Message-ID: ${MSGID}

Final-Recipient: rfc822; ${RCPT}
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450:4013:c00::1b, the
 server for the domain gmail.com.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does
 not exist. Please try 550-5.1.1 double-checking the recipient's email address
 for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550
 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1b2c3d4e5f6-12345.67 - gsmtp
Last-Attempt-Date: Mon, 04 Nov 2024 02:00:04 -0800 (PST)

--000000000000a1b2c3d4e5f60718
Content-Type: message/rfc822

${ORIG}
--000000000000a1b2c3d4e5f60718--
]],
}

-- Gmail's older text notice: the other server's reply is a full mailbox.
sample {
  name = "gmail_text_full", returns = false,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "mailbox_full", hard = false, action = "failed", code = 552 } } },
  template = [[
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bounces+${TOKEN}@news.example.com
Subject: Delivery Status Notification (Failure)
Date: Mon, 04 Nov 2024 02:10:00 -0800
Content-Type: text/plain; charset=ISO-8859-1

Delivery to the following recipient failed permanently:

     ${RCPT}

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the server for the recipient domain example.org by mx.example.org. [198.51.100.20].

The error that the other server returned was:
552 5.2.2 <${RCPT}>: Mailbox full, over quota
]],
}

-- Postfix relaying to Gmail: replies of Gmail's in the Diagnostic-Code.
local function postfix_dsn(name, action, status, diag, expect)
  sample {
    name = name, returns = true,
    expect = { kind = "dsn", reporting_mta = "mta1.news.example.com", verp = "${TOKEN}",
      recipients = { { address = "${RCPT}", reason = expect.reason, hard = expect.hard,
                       action = action, status = status } } },
    template = [[
Return-Path: <>
X-Original-To: bounces+${TOKEN}@news.example.com
Delivered-To: bounces+${TOKEN}@news.example.com
Date: Mon,  4 Nov 2024 10:00:05 +0000 (UTC)
From: MAILER-DAEMON@mta1.news.example.com (Mail Delivery System)
Subject: ]] .. (action == "delayed" and "Delayed Mail (still being retried)" or "Undelivered Mail Returned to Sender") .. [[

To: bounces+${TOKEN}@news.example.com
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4XkL2m1Zq3z9Abc.1730714405/mta1.news.example.com"
Message-Id: <20241104100005.4XkL2m1Zq3z9Abd@mta1.news.example.com>

This is a MIME-encapsulated message.

--4XkL2m1Zq3z9Abc.1730714405/mta1.news.example.com
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mta1.news.example.com.

]] .. (action == "delayed" and [[
####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.
]] or [[
I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.
]]) .. [[

                   The mail system

<${RCPT}>: host mx.example.net[198.51.100.25] said: ]] .. diag .. [[


--4XkL2m1Zq3z9Abc.1730714405/mta1.news.example.com
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mta1.news.example.com
X-Postfix-Queue-ID: 4XkL2m1Zq3z9Abc
X-Postfix-Sender: rfc822; bounces+${TOKEN}@news.example.com
Arrival-Date: Mon,  4 Nov 2024 10:00:01 +0000 (UTC)

Final-Recipient: rfc822; ${RCPT}
Original-Recipient: rfc822;${RCPT}
Action: ]] .. action .. [[

Status: ]] .. status .. [[

Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; ]] .. diag .. [[


--4XkL2m1Zq3z9Abc.1730714405/mta1.news.example.com
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

${ORIGHDR}
--4XkL2m1Zq3z9Abc.1730714405/mta1.news.example.com--
]],
  }
end

postfix_dsn("gmail_over_quota", "failed", "5.2.2",
  "552-5.2.2 The email account that you tried to reach is over quota. Please\n    direct the recipient to\n    552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm - gsmtp",
  { reason = "mailbox_full", hard = false })
postfix_dsn("gmail_disabled", "failed", "5.2.1",
  "550-5.2.1 The email account that you tried to reach is disabled. Learn more\n    at 550 5.2.1  https://support.google.com/mail/?p=DisabledUser - gsmtp",
  { reason = "mailbox_disabled", hard = true })
postfix_dsn("gmail_dmarc", "failed", "5.7.26",
  "550-5.7.26 Unauthenticated email from news.example.com is not accepted due to\n    domain's 550-5.7.26 DMARC policy. Please contact the administrator of\n    news.example.com domain. - gsmtp",
  { reason = "policy", hard = false })
postfix_dsn("gmail_spam", "failed", "5.7.1",
  "550-5.7.1 [192.0.2.10] Our system has detected that this message is likely\n    unsolicited mail. To reduce the amount of spam sent to Gmail, this message\n    has been blocked. - gsmtp",
  { reason = "spam", hard = false })
postfix_dsn("gmail_reputation", "failed", "5.7.1",
  "550-5.7.1 [192.0.2.10] Our system has detected that this message is\n    suspicious due to the very low reputation of the sending IP address. - gsmtp",
  { reason = "blocked", hard = false })
postfix_dsn("gmail_rate_limited", "delayed", "4.7.28",
  "421-4.7.28 [192.0.2.10] Our system has detected an unusual rate of unsolicited\n    mail originating from your IP address. To protect our users from spam, mail\n    sent from your IP address has been temporarily rate limited. - gsmtp",
  { reason = "rate_limited", hard = false })
postfix_dsn("outlook_banned_ip", "failed", "5.7.606",
  "550 5.7.606 Access denied, banned sending IP [192.0.2.10]. To request removal\n    from this list please visit https://sender.office.com/ and follow the\n    directions. (in reply to RCPT TO command)",
  { reason = "blocked", hard = false })
postfix_dsn("outlook_unavailable", "failed", "5.5.0",
  "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302) (in\n    reply to RCPT TO command)",
  { reason = "user_unknown", hard = true })
postfix_dsn("yahoo_deferred", "delayed", "4.7.0",
  "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to\n    unexpected volume or user complaints - 4.16.55.1;\n    https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command)",
  { reason = "rate_limited", hard = false })
postfix_dsn("spf_fail", "failed", "5.7.23",
  "550 5.7.23 <${RCPT}>: Recipient address rejected: Message rejected due to:\n    SPF fail - not authorized. (in reply to RCPT TO command)",
  { reason = "policy", hard = false })
postfix_dsn("dkim_fail", "failed", "5.7.1",
  "550 5.7.1 Message rejected: DKIM signature verification failed (in reply to\n    end of DATA command)",
  { reason = "policy", hard = false })
postfix_dsn("too_big", "failed", "5.3.4",
  "552 5.3.4 Message size exceeds fixed maximum message size (in reply to end\n    of DATA command)",
  { reason = "message_too_big", hard = false })
postfix_dsn("virus", "failed", "5.7.1",
  "554 5.7.1 Message rejected: a virus was found in the attachment (in reply to\n    end of DATA command)",
  { reason = "content_rejected", hard = false })
postfix_dsn("relay_denied", "failed", "5.7.1",
  "554 5.7.1 <${RCPT}>: Relay access denied (in reply to RCPT TO command)",
  { reason = "policy", hard = false })
postfix_dsn("mail_loop", "failed", "5.4.6",
  "554 5.4.6 Too many hops (in reply to end of DATA command)",
  { reason = "system_error", hard = false })
postfix_dsn("tls_required", "delayed", "4.7.0",
  "454 4.7.0 TLS not available due to local problem (in reply to MAIL FROM\n    command)",
  { reason = "network", hard = false })
postfix_dsn("greylisted", "delayed", "4.2.0",
  "450 4.2.0 <${RCPT}>: Recipient address rejected: Greylisted, see\n    https://postgrey.example/ (in reply to RCPT TO command)",
  { reason = "rate_limited", hard = false })
postfix_dsn("null_mx", "failed", "5.1.10",
  "556 5.1.10 <${RCPT}>: Recipient address has null MX",
  { reason = "host_unknown", hard = true })
postfix_dsn("account_suspended", "failed", "5.2.1",
  "550 5.2.1 <${RCPT}>: Mailbox suspended for inactivity (in reply to RCPT TO\n    command)",
  { reason = "mailbox_disabled", hard = true })

-- Yahoo's own text notice (qmail-shaped).
sample {
  name = "yahoo_no_account", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "user_unknown", hard = true, action = "failed", code = 554 } } },
  template = [[
Return-Path: <>
From: MAILER-DAEMON@yahoo.example
To: bounces+${TOKEN}@news.example.com
Subject: Failure Notice
Date: Mon, 4 Nov 2024 10:00:06 +0000

Sorry, we were unable to deliver your message to the following address.

<${RCPT}>:
554: delivery error: dd This user doesn't have a yahoo.example account (${RCPT}) [0] - mta1042.mail.gq1.yahoo.example

--- Below this line is a copy of the message.

${ORIG}]],
}

-- Yahoo: a mailbox closed for inactivity.
sample {
  name = "yahoo_disabled", returns = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "mailbox_disabled", hard = true, action = "failed" } } },
  template = [[
Return-Path: <>
From: MAILER-DAEMON@yahoo.example
To: bounces+${TOKEN}@news.example.com
Subject: Failure Notice
Date: Mon, 4 Nov 2024 10:00:06 +0000

Sorry, we were unable to deliver your message to the following address.

<${RCPT}>:
554: delivery error: dd Sorry your message to ${RCPT} cannot be delivered. This mailbox is disabled (554.30). - mta1117.mail.bf1.yahoo.example

--- Below this line is a copy of the message.

${ORIG}]],
}

-- A Postfix text bounce (the notice without its report), encoded as
-- quoted-printable by a gateway, in CRLF lines.
sample {
  name = "postfix_text_qp", returns = false, crlf = true,
  expect = { kind = "bounce", recipients = { { address = "${RCPT}", reason = "user_unknown", hard = true, action = "failed", status = "5.1.1" } } },
  template = [[
Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@gw.example.com>
To: bounces+${TOKEN}@news.example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: quoted-printable

This is the mail system at host gw.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

                   The mail system

<${RCPT}>: host mx.example.com[203.0.113.9] said: 550 5.1.1=
 <${RCPT}>: Recipient address rejected: User unknown in local recipient=
 table (in reply to RCPT TO command)
]],
}

-- RFC 3834 auto-replies and out-of-office notices: not bounces.
sample {
  name = "vacation_rfc3834", returns = false,
  expect = { kind = "autoreply", verp = "${TOKEN}", message_id = "${MSGID}", recipients = {} },
  template = [[
Return-Path: <>
Delivered-To: bounces+${TOKEN}@news.example.com
From: Ann Reader <${RCPT}>
To: bounces+${TOKEN}@news.example.com
Subject: Re: Your November news
In-Reply-To: ${MSGID}
References: ${MSGID}
Auto-Submitted: auto-replied
Date: Mon, 4 Nov 2024 10:01:00 +0000

I am on vacation until 18 November and will read your message when I
am back. For urgent matters please call the office.
]],
}

sample {
  name = "outlook_ooo", returns = false,
  expect = { kind = "autoreply", recipients = {} },
  template = [[
From: Bob Reader <${RCPT}>
To: Example News <news@news.example.com>
Subject: Automatic reply: Your November news
Thread-Topic: Your November news
Date: Mon, 4 Nov 2024 10:01:30 +0000
Message-ID: <AM0PR01MB5555.ooo@AM0PR01MB5555.eurprd01.prod.outlook.com>
In-Reply-To: ${MSGID}
X-MS-Exchange-Inbox-Rules-Loop: ${RCPT}
X-Auto-Response-Suppress: All
Auto-Submitted: auto-generated
Content-Type: text/plain; charset="us-ascii"
MIME-Version: 1.0

I am out of the office until Monday with limited access to email.
]],
}

sample {
  name = "autoreply_header", returns = false,
  expect = { kind = "autoreply", recipients = {} },
  template = [[
From: Carla Reader <${RCPT}>
To: bounces+${TOKEN}@news.example.com
Subject: Thank you for your message
X-Autoreply: yes
Precedence: auto_reply
Date: Mon, 4 Nov 2024 10:02:00 +0000

Thank you for writing. We answer every message within two working days.
]],
}

sample {
  name = "abwesenheit", returns = false,
  expect = { kind = "autoreply", recipients = {} },
  template = [[
From: Dora Leserin <${RCPT}>
To: news@news.example.com
Subject: =?UTF-8?Q?Abwesenheitsnotiz:_Your_November_news?=
Date: Mon, 4 Nov 2024 11:02:00 +0100
Content-Type: text/plain; charset=utf-8

Ich bin bis zum 15. November nicht im Büro.
]],
}

sample {
  name = "read_receipt", returns = false,
  expect = { kind = "autoreply", recipients = {} },
  template = [[
From: Eve Reader <${RCPT}>
To: news@news.example.com
Subject: Read: Your November news
Date: Mon, 4 Nov 2024 12:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification;
	boundary="mdn-1"

--mdn-1
Content-Type: text/plain

Your message was displayed.

--mdn-1
Content-Type: message/disposition-notification

Final-Recipient: rfc822; ${RCPT}
Original-Message-ID: ${MSGID}
Disposition: manual-action/MDN-sent-manually; displayed

--mdn-1--
]],
}

-- Ordinary messages: a bounce mailbox gets these too, and none of them
-- may cost anyone their address.
sample {
  name = "newsletter", returns = false,
  expect = { kind = "none", recipients = {} },
  template = [[
From: Other Shop <news@othershop.example>
To: bounces+${TOKEN}@news.example.com
Subject: Our November offers: delivery failed? Never with us!
Date: Mon, 4 Nov 2024 08:00:00 +0000
List-Unsubscribe: <https://othershop.example/u/123>
Precedence: bulk
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="nl-1"

--nl-1
Content-Type: text/plain; charset=utf-8

Undeliverable parcels are a thing of the past: this month every order
ships for free. Your mailbox full of offers awaits.

--nl-1
Content-Type: text/html; charset=utf-8

<p>Undeliverable parcels are a thing of the past.</p>

--nl-1--
]],
}

sample {
  name = "reply_quoting_bounce", returns = false,
  expect = { kind = "none", recipients = {} },
  template = [[
Return-Path: <frank@customer.example>
From: Frank Customer <frank@customer.example>
To: Example News <news@news.example.com>
Subject: Re: Undelivered Mail Returned to Sender
Date: Mon, 4 Nov 2024 13:00:00 +0000
In-Reply-To: ${MSGID}

Hi, I got the message below when I wrote to my colleague, can you help?
Could not be delivered, it says.

> This is the mail system at host mx.customer.example.
>
> I'm sorry to have to inform you that your message could not
> be delivered to one or more recipients.
>
> <${RCPT}>: host mx.example.org[203.0.113.5] said: 550 5.1.1
>     User unknown (in reply to RCPT TO command)

Thanks,
Frank
]],
}

sample {
  name = "forwarded_bounce", returns = false,
  expect = { kind = "none", recipients = {} },
  template = [[
From: Grace Customer <grace@customer.example>
To: support@news.example.com
Subject: Fwd: Mail delivery failed: returning message to sender
Date: Mon, 4 Nov 2024 14:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-1"

--fwd-1
Content-Type: text/plain

See the attached bounce, what does it mean?

--fwd-1
Content-Type: message/rfc822

From: Mail Delivery System <Mailer-Daemon@mx.example.org>
To: grace@customer.example
Subject: Returned mail
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="inner"

--inner
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; ${RCPT}
Action: failed
Status: 5.1.1

--inner--

--fwd-1--
]],
}

sample {
  name = "out_of_office_plans", returns = false,
  expect = { kind = "none", recipients = {} },
  template = [[
From: Henry Colleague <henry@news.example.com>
To: news@news.example.com
Subject: Re: out of office plans for December
Date: Mon, 4 Nov 2024 15:00:00 +0000

I will be away from 20 December; the mailbox will be full of holiday
greetings, I am sure. Permanent error in the rota fixed, by the way.
]],
}

sample {
  name = "postmaster_notice", returns = false,
  expect = { kind = "none", recipients = {} },
  template = [[
From: Postmaster <postmaster@news.example.com>
To: bounces+${TOKEN}@news.example.com
Subject: Your mailbox settings were updated
Date: Mon, 4 Nov 2024 16:00:00 +0000

The storage of this mailbox was raised to 10 GB. No action is needed.
]],
}

--- The sample named name.
function M.get(name)
  for _, s in ipairs(M.samples) do
    if s.name == name then return s end
  end
  error("no bounce sample " .. name)
end

local function subst(s, vars)
  return (s:gsub("%${(%u+)}", function(k) return vars[k] end))
end

--- The variables of sample number i: a recipient, a token, a message id.
function M.vars(i)
  local token = string.format("r%06d", i)
  local vars = {
    RCPT = string.format("reader%d@example.org", i),
    TOKEN = token,
    MSGID = string.format("<%s.nov@news.example.com>", token),
  }
  vars.ORIGHDR = subst(ORIG_HEADER, vars)
  vars.ORIG = subst(ORIG, vars)
  return vars
end

--- render(sample, vars) -> the raw message, and the expectation with
-- the variables filled in.
function M.render(s, vars)
  local raw = subst(s.template, vars)
  if s.crlf then raw = raw:gsub("\r?\n", "\r\n") end
  local function fill(v)
    if type(v) == "string" then return subst(v, vars) end
    if type(v) ~= "table" then return v end
    local t = {}
    for k, x in pairs(v) do t[k] = fill(x) end
    return t
  end
  local expect = fill(s.expect)
  if s.returns then
    expect.verp = expect.verp or vars.TOKEN
    expect.message_id = expect.message_id or vars.MSGID
    expect.headers = { ["x-mailcast-campaign"] = "november", ["x-mailcast-recipient"] = vars.TOKEN }
  end
  return raw, expect
end

return M
