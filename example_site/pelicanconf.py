# A small blog that shows pelican-reciprocity at work. It builds offline:
# every friend's feed is a file in feeds/, and each Mastodon and Bluesky
# thread a file in reciprocity/social/.
AUTHOR = "Mara Lind"
SITENAME = "Notes from the Allotment"
SITEURL = ""
PATH = "content"
TIMEZONE = "Europe/London"
DEFAULT_LANG = "en"
DEFAULT_PAGINATION = 10
RELATIVE_URLS = True

# No site feeds while developing, as in Pelican's quickstart.
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None

PLUGINS = ["pelican_reciprocity"]
# The example never touches the network (leave this out on your own site).
RECIPROCITY_OFFLINE = True
RECIPROCITY_FRIENDS = "friends.toml"
# The example's feeds are frozen files, so never let their posts age out.
RECIPROCITY_AUTO_MAX_AGE_DAYS = 0
RECIPROCITY_PREFER_SHARED_TAGS = True

LINKS = (("Friends", "friends/"),)

# Thank the people who respond: comment files live in content/comments/<slug>/,
# and mentions.json is a saved webmention.io export.
RECIPROCITY_RESPONSE_SOURCES = ["mentions.json"]

# Replies, likes and boosts from Mastodon and Bluesky (the Mastodon: and
# Bluesky: lines of birds.md and planning.md). Each thread is kept as JSON in
# reciprocity/social/, so this example shows them offline; on a real site the
# folder keeps a thread whose server has gone.
RECIPROCITY_SOCIAL_ARCHIVE = "reciprocity/social"
