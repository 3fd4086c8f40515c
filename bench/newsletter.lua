-- The newsletter of bench/send and bench/campaign: a text and an HTML
-- body of about 5 KB once built, with {{name}} in both and in the
-- subject, and its sender. bench/send.lua fills in the name itself;
-- bench/campaign_script.lua hands the templates to mailcast.campaign.
-- The line of the text that starts with a dot is there for dot-stuffing.
return {
  from = { name = "Example News", address = "news@example.com" },
  subject = "Your November news, {{name}}",

  text = [[
Hello {{name}},

our November newsletter is here. This month: the new autumn catalogue,
opening hours over the holidays, the winners of the photo competition,
and a few words about the new shop in the old town.

Catalogue: thirty-two pages of new products, with prices valid until the
end of January. Orders placed before 15 December arrive before Christmas;
orders placed later arrive in the first week of January. Delivery is free
for orders over 50 euros, as it has been all year.

Opening hours: Monday to Friday 9:00 to 18:00, Saturday 10:00 to 16:00.
We are closed on 25 and 26 December and on 1 January. On 24 and 31
December we close at 14:00.

Photo competition: thank you to everyone who sent pictures. The winning
entries are on our website, and the winners have been told by mail.
.. and yes, the cat picture won again.

The new shop: from 2 December you find us at Market Street 12 as well,
next to the old town hall, with the whole catalogue on two floors and a
small cafe on the first floor. Come and say hello.

Workshops: in January we start evening workshops again, every Thursday
from 18:30 to 20:30. The first ones are about repairing bicycles, simple
woodwork for beginners, and baking bread at home. Places are limited to
twelve people per evening; book them in the shop or on our website. The
workshops cost 15 euros, materials included.

Gift cards: for those who cannot decide, our gift cards come in any
amount from 10 euros, are valid for three years in every shop and online,
and can be sent by mail with a message of your own, ready to print.

You receive this mail because you subscribed at example.com with this
address. To stop receiving it, follow the link at the end of the HTML
version or reply with "unsubscribe".

Kind regards,
The Example team
]],

  html = [[
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>November news</title>
<style>body{font-family:Helvetica,Arial,sans-serif;color:#222}
h1{font-size:22px}.box{border:1px solid #ddd;padding:12px;margin:12px 0}</style>
</head><body>
<h1>Hello {{name}},</h1>
<p>our November newsletter is here. This month: the new autumn catalogue,
opening hours over the holidays, the winners of the photo competition, and a
few words about the new shop in the old town.</p>
<div class="box"><h2>Catalogue</h2><p>Thirty-two pages of new products, with
prices valid until the end of January. Orders placed before 15 December
arrive before Christmas; orders placed later arrive in the first week of
January. Delivery is free for orders over 50 euros, as it has been all
year.</p><p><a href="https://example.com/catalogue">Browse the catalogue</a></p></div>
<div class="box"><h2>Opening hours</h2><p>Monday to Friday 9:00 to 18:00,
Saturday 10:00 to 16:00. We are closed on 25 and 26 December and on
1 January. On 24 and 31 December we close at 14:00.</p></div>
<div class="box"><h2>Photo competition</h2><p>Thank you to everyone who sent
pictures. The winning entries are <a href="https://example.com/photos">on our
website</a>, and the winners have been told by mail.</p></div>
<div class="box"><h2>The new shop</h2><p>From 2 December you find us at
Market Street 12 as well, next to the old town hall, with the whole catalogue
on two floors and a small cafe on the first floor. Come and say hello.</p></div>
<div class="box"><h2>Workshops</h2><p>In January we start evening workshops
again, every Thursday from 18:30 to 20:30. The first ones are about repairing
bicycles, simple woodwork for beginners, and baking bread at home. Places are
limited to twelve people per evening; <a href="https://example.com/workshops">book
them in the shop or on our website</a>. The workshops cost 15 euros, materials
included.</p></div>
<div class="box"><h2>Gift cards</h2><p>For those who cannot decide, our gift
cards come in any amount from 10 euros, are valid for three years in every shop
and online, and can be sent by mail with a message of your own, ready to
print.</p></div>
<p style="font-size:12px;color:#777">You receive this mail because you
subscribed at example.com with this address.
<a href="https://example.com/unsubscribe">Unsubscribe</a>.</p>
<p>Kind regards,<br>The Example team</p>
</body></html>
]],
}
