# issue4.sieve - the 20-rule Sieve script that `bench/run.sh --preset issue4` makes every
# bench account's active script: the kind of filter a user builds up over the years (junk,
# lists, social sites, senders, subjects in Korean and English, sizes, flags). Rules are
# independent ifs, so a message that files late has been through all the tests before.
# The bench messages (lmtp_bench.py) match rules 8, 11, 14-17 and 20; run.sh checks that the
# folders they name got mail and that INBOX messages carry the flags.
require ["fileinto", "imap4flags", "envelope", "variables", "subaddress"];

# 1-2: spam scores from the content filter
if header :contains "X-Spam-Flag" "YES" { fileinto "Junk"; stop; }
if header :matches "X-Spam-Level" "\\*\\*\\*\\*\\*\\**" { fileinto "Junk"; stop; }
# 3-4: mailing lists
if exists "List-Id" { fileinto "Lists"; stop; }
if header :is "Precedence" ["bulk", "list", "junk"] { fileinto "Lists"; stop; }
# 5: social sites
if address :domain :is "From" ["facebookmail.com", "linkedin.com", "twitter.com"] {
    fileinto "Social"; stop;
}
# 6: the boss
if address :is :all "From" ["boss@example.test", "ceo@example.test"] { addflag "\\Flagged"; }
# 7: user+bills@
if envelope :detail "to" "bills" { fileinto "Bills"; stop; }
# 8: the partner's domain (the bench sender)
if envelope :domain :is "from" "example.org" { addflag "$Partner"; }
# 9: newsletters by sender name
if address :localpart :matches "From" ["newsletter*", "no-reply*", "noreply*"] {
    fileinto "Newsletters"; stop;
}
# 10: big mail
if size :over 5M { fileinto "Large"; stop; }
# 11: replies
if header :matches "Subject" "Re: *" { addflag "$Reply"; }
# 12: auto-replies
if anyof (header :contains "Auto-Submitted" "auto-replied",
          header :contains "Subject" ["Out of office", "부재중"]) {
    fileinto "AutoReplies"; stop;
}
# 13: no Message-ID
if not exists "Message-ID" { addflag "$NoMessageId"; }
# 14-17: subjects
if header :contains "Subject" "[공지]" { fileinto "Notices"; stop; }
if header :contains "Subject" ["주간 보고서", "weekly report"] { fileinto "Reports"; stop; }
if anyof (header :contains "Subject" "회의", header :contains "Subject" "meeting") {
    fileinto "Meetings"; stop;
}
if allof (address :localpart :is "From" "bench-sender", header :contains "Subject" "점심") {
    fileinto "Lunch"; stop;
}
# 18: invoices, by a number in the subject
if header :matches "Subject" "*invoice #*" { set "invoice" "${2}"; fileinto "Invoices"; stop; }
# 19: mail to old addresses
if address :domain :is "To" ["old.example.test", "legacy.example.test"] {
    fileinto "OldAddresses"; stop;
}
# 20: the rest stays in INBOX; test mail ("테스트") is marked read
if header :contains "Subject" "테스트" { addflag "\\Seen"; }
