"""The Docs API's knowledge base: sites, collections, categories and articles, generated as a
pure function of the seed and the sizes, and the changes a test makes between two runs.

Records are kept in the shape the Docs API v1 serves them, with three exceptions:
- counts (`articleCount`, `publishedArticleCount`) are computed when served;
- an article keeps `categories: []` when it is in no category (it then belongs to its
  collection's "Uncategorized" category; docs_api.py renders the reading);
- `updatedAt: None` on a never-edited article (docs_api.py renders the reading).
Hidden per-article state lives beside the records: `drafts` (id -> draft text, when `hasDraft`)
and `manual_order` (id -> position, what `sort=order` sorts by).

Traps in every generated knowledge base (see the README's Docs API section):
- ids are 24-hex strings that begin with the creation time, as MongoDB ObjectIds do; user ids
  (`createdBy`, `updatedBy`) are integers, the Mailbox account's users;
- one collection holds 70% of the articles (several pages at pageSize 100 with the default
  sizes); the last collection (of two or more) has no category but Uncategorized;
- private collections, a collection without `description`, a site without `cname`;
- categories and articles never edited (`updatedAt`/`updatedBy` null), articles never
  published (`lastPublishedAt` null), unpublished ones (`notpublished` with a `lastPublishedAt`),
  articles with a draft, in no category, in two or three categories;
- an import batch of articles sharing one `createdAt`, and a bulk edit of 12 articles of the
  big collection sharing one `updatedAt` second, placed at ranks 95 to 106 of that collection's
  `sort=updatedAt&order=desc` listing, so that it straddles the page boundary at pageSize 10,
  50 and 100;
- collections of different sites share `order` values, two categories of a collection share one;
- HTML text with non-ASCII, emoji and U+2028; names with accents; `popularity` a float.
"""
import math
import random
import threading
import unicodedata
from datetime import datetime, timedelta

from .dataset import UTC, iso, parse_iso, utc_now

HISTORY_START = datetime(2019, 1, 1, tzinfo=UTC)
HISTORY_END = datetime(2025, 10, 1, tzinfo=UTC)
BIG_COLLECTION_SHARE = 0.7
TIE_GROUP = 12                  # articles of the bulk edit sharing one updatedAt
TIE_GROUP_RANK = 94             # 0-based rank of its first article in updatedAt desc
IMPORT_BATCH = 8                # articles sharing one createdAt

SITE_NAMES = [("acme", "Acme Help Center", "docs.acme.example.com"), ("acme-dev", "Acme für Entwickler", None)]
COLLECTION_NAMES = ["Help Center", "Internal Runbooks", "Développeurs", "Billing & Plans", "Mobile Apps",
                    "Partners"]
CATEGORY_NAMES = ["Getting Started", "Billing", "Troubleshooting", "Integrations", "Accounts & Security",
                  "Réglages", "FAQ", "Mobile"]
ARTICLE_TOPICS = ["Reset your password", "Set up two-factor authentication", "Export your data",
                  "Connect Slack", "Change your plan", "Café mode ☕", "Invite your team", "API tokens",
                  "Über die Abrechnung", "Delete your account", "Import contacts from CSV",
                  "Troubleshoot email delivery", "FAQ", "Configurer le SSO", "Use keyboard shortcuts ⌨️",
                  "Webhooks", "Mobile notifications", "GDPR requests", "日本語サポート", "Custom domains"]
KEYWORDS = ["password", "login", "billing", "export", "csv", "sso", "api", "webhook", "mobile",
            "facturación", "rechnung", "スマホ", "slack", "team"]
TEXTS = [
    "<h2>Overview</h2><p>Follow these steps to get going — it takes about 2 minutes.</p>"
    "<ol><li>Open <strong>Settings</strong></li><li>Click <em>Save</em> ✅</li></ol>",
    "<p>Grüße! Diese Anleitung erklärt die Abrechnung für Teams mit mehr als 10 Plätzen.</p>",
    "<p>Voilà : la configuration du SSO se fait en trois étapes. Besoin d'aide ? Écrivez-nous 🙂</p>",
    "<p>日本語のサポートは平日のみです。</p><p>ご不便をおかけします🙇</p>",
    "<p>Use <code>curl --user KEY:X</code> to call the API.</p><pre>{\"ok\": true}</pre>",
    "<p>A line separator\u2028inside a paragraph, and &lt;escaped&gt; &amp; entities.</p>",
    "<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Plus</td><td>€20</td></tr></table>",
    "<p dir=\"rtl\">שלום! מאמר זה עוסק בהגדרות החשבון.</p><p>🚀🔥</p>",
]


def object_id(rng, when):
    """A MongoDB-style ObjectId: 8 hex digits of the creation time, then 16 random ones."""
    return f"{int(when.timestamp()) & 0xFFFFFFFF:08x}{rng.getrandbits(64):016x}"


def slugify(name):
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = "".join(c if c.isalnum() else "-" for c in ascii_name.lower())
    return "-".join(part for part in slug.split("-") if part) or "article"


def popularity(views):
    """1.0 to 5.0 from the view count, one decimal (a float: never type it as an integer)."""
    return round(min(5.0, 1.0 + math.log10(1 + views)), 1)


def _between(rng, start, end):
    span = max(0, int((end - start).total_seconds()))
    return start + timedelta(seconds=rng.randint(0, span))


class DocsData:
    """The knowledge base (`emu.docs.data`). Lists hold the records; every change takes `lock`
    and bumps `revision`. Change methods raise KeyError for an unknown id."""

    def __init__(self, user_ids, mailbox_ids, seed=1):
        self.sites, self.collections, self.categories, self.articles = [], [], [], []
        self.drafts = {}                 # article id -> draft text (hidden; served with draft=true)
        self.manual_order = {}           # article id -> position (hidden; what sort=order sorts by)
        self.uncategorized_ids = set()   # the collections' "Uncategorized" categories
        self.user_ids = list(user_ids) or [1]
        self.mailbox_ids = list(mailbox_ids) or [1]
        self.lock = threading.RLock()
        self.revision = 0
        self.views_touch_updated_at = False
        self.now = utc_now               # replaceable: the time a change is stamped with
        self._rng = random.Random(f"docs-changes/{seed}")
        self._numbers = {"collection": 0, "category": 0, "article": 0}

    # ------------------------------------------------------------------ lookups
    def site(self, site_id):
        return next((s for s in self.sites if s["id"] == site_id), None)

    def collection(self, collection_id):
        return next((c for c in self.collections if c["id"] == collection_id), None)

    def category(self, ident):
        """By id, or by number when `ident` is all digits."""
        if ident.isdigit():
            return next((c for c in self.categories if c["number"] == int(ident)), None)
        return next((c for c in self.categories if c["id"] == ident), None)

    def article(self, ident):
        if ident.isdigit():
            return next((a for a in self.articles if a["number"] == int(ident)), None)
        return next((a for a in self.articles if a["id"] == ident), None)

    def uncategorized(self, collection_id):
        return next(c for c in self.categories
                    if c["collectionId"] == collection_id and c["id"] in self.uncategorized_ids)

    def articles_in_collection(self, collection_id):
        return [a for a in self.articles if a["collectionId"] == collection_id]

    def articles_in_category(self, category):
        if category["id"] in self.uncategorized_ids:
            return [a for a in self.articles if a["collectionId"] == category["collectionId"] and not a["categories"]]
        return [a for a in self.articles if category["id"] in a["categories"]]

    def _need(self, found, kind, ident):
        if found is None:
            raise KeyError(f"no {kind} {ident!r}")
        return found

    # ------------------------------------------------------------------ building records
    def _next_number(self, kind):
        self._numbers[kind] += 1
        return self._numbers[kind]

    def host_of(self, site):
        return site["cname"] or f"{site['subDomain']}.helpscoutdocs.com"

    def new_collection(self, rng, site, name, visibility, order, created, updated, user):
        number = self._next_number("collection")
        slug = slugify(name)
        collection = {"id": object_id(rng, created), "siteId": site["id"], "number": number, "slug": slug,
                      "visibility": visibility, "order": order, "name": name,
                      "description": f"{name}: guides and answers"[:45],
                      "publicUrl": f"https://{self.host_of(site)}/collection/{number}-{slug}",
                      "createdBy": user, "updatedBy": user if updated else None,
                      "createdAt": iso(created), "updatedAt": iso(updated) if updated else None}
        self.collections.append(collection)
        uncategorized = self.new_category(rng, collection, "Uncategorized", 0, created, None, user)
        self.uncategorized_ids.add(uncategorized["id"])
        return collection

    def new_category(self, rng, collection, name, order, created, updated, user):
        category = {"id": object_id(rng, created), "number": self._next_number("category"), "slug": slugify(name),
                    "collectionId": collection["id"], "order": order,
                    "defaultSort": "popularity" if order == 0 else rng.choice(["popularity", "name", "updatedAt"]),
                    "name": name, "createdBy": user, "updatedBy": user if updated else None,
                    "createdAt": iso(created), "updatedAt": iso(updated) if updated else None}
        self.categories.append(category)
        return category

    def new_article(self, rng, collection, name, text, created, status, categories=(), keywords=(),
                    updated=None, updated_by=None, published=None, views=0):
        site = self.site(collection["siteId"])
        number = self._next_number("article")
        slug = slugify(name)
        article = {"id": object_id(rng, created), "number": number, "collectionId": collection["id"], "slug": slug,
                   "status": status, "hasDraft": False, "name": name,
                   "publicUrl": f"https://{self.host_of(site)}/article/{number}-{slug}",
                   "popularity": popularity(views), "viewCount": views,
                   "createdBy": rng.choice(self.user_ids), "updatedBy": updated_by if updated else None,
                   "createdAt": iso(created), "updatedAt": iso(updated) if updated else None,
                   "lastPublishedAt": iso(published) if published else None,
                   "text": text, "categories": list(categories), "related": [], "keywords": list(keywords)}
        self.articles.append(article)
        self.manual_order[article["id"]] = rng.randrange(1 << 30)
        return article

    # ------------------------------------------------------------------ changes between runs
    def _changed(self):
        self.revision += 1

    def modify_article(self, article_id, name=None, text=None):
        """An edit saved (and published, for a published article): new text (and name when
        given), `updatedAt` now, `updatedBy` a user; a published article's `lastPublishedAt`
        follows. Returns the article."""
        with self.lock:
            article = self._need(self.article(article_id), "article", article_id)
            now, user = self.now(), self._rng.choice(self.user_ids)
            article["text"] = text if text is not None else article["text"] + f"<p>Edited {iso(now)} ✏️</p>"
            if name is not None:
                article["name"], article["slug"] = name, slugify(name)
                base = article["publicUrl"].rsplit("/", 1)[0]
                article["publicUrl"] = f"{base}/{article['number']}-{article['slug']}"
            article["updatedAt"], article["updatedBy"] = iso(now), user
            if article["status"] == "published":
                article["lastPublishedAt"] = iso(now)
            self._changed()
            return article

    def add_article(self, collection_id, categories=(), name=None, text=None, status="published", keywords=()):
        """A new article (never edited: `updatedAt` null, or `createdAt` under the reading
        `docs_new_article_updated_at="created"`). Returns its id."""
        if status not in ("published", "notpublished"):
            raise ValueError("status must be published or notpublished")
        with self.lock:
            collection = self._need(self.collection(collection_id), "collection", collection_id)
            for category_id in categories:
                category = self._need(self.category(category_id), "category", category_id)
                if category["collectionId"] != collection_id or category["id"] in self.uncategorized_ids:
                    raise ValueError(f"category {category_id} is not a named category of collection {collection_id}")
            now = self.now()
            name = name or f"New article {self._numbers['article'] + 1} ✨"
            article = self.new_article(self._rng, collection, name, text or "<p>Fresh content — neu! 🆕</p>", now,
                                       status, categories, keywords, published=now if status == "published" else None)
            self._changed()
            return article["id"]

    def delete_article(self, article_id):
        """Gone from every list and count; GET answers 404. Other articles' `related` lose it
        without a new `updatedAt`."""
        with self.lock:
            article = self._need(self.article(article_id), "article", article_id)
            self.articles.remove(article)
            self.drafts.pop(article["id"], None)
            for other in self.articles:
                if article["id"] in other["related"]:
                    other["related"].remove(article["id"])
            self._changed()

    def view_article(self, article_id, times=1):
        """`viewCount` grows by `times`, `popularity` follows; `updatedAt` stays (unless the
        reading `docs_views_touch_updated_at`)."""
        with self.lock:
            article = self._need(self.article(article_id), "article", article_id)
            article["viewCount"] += times
            article["popularity"] = popularity(article["viewCount"])
            if self.views_touch_updated_at:
                article["updatedAt"] = iso(self.now())
            self._changed()
            return article

    def publish_article(self, article_id):
        """Status published, `lastPublishedAt` and `updatedAt` now, the draft (if any) published."""
        with self.lock:
            article = self._need(self.article(article_id), "article", article_id)
            now = iso(self.now())
            if article["id"] in self.drafts:
                article["text"] = self.drafts.pop(article["id"])
            article.update(status="published", hasDraft=False, lastPublishedAt=now, updatedAt=now,
                           updatedBy=self._rng.choice(self.user_ids))
            self._changed()
            return article

    def unpublish_article(self, article_id):
        """Status notpublished, `updatedAt` now; `lastPublishedAt` stays."""
        with self.lock:
            article = self._need(self.article(article_id), "article", article_id)
            article.update(status="notpublished", updatedAt=iso(self.now()), updatedBy=self._rng.choice(self.user_ids))
            self._changed()
            return article

    def save_draft(self, article_id, text=None):
        """A draft saved: `hasDraft` true, `draft=true` serves its text; `updatedAt` stays."""
        with self.lock:
            article = self._need(self.article(article_id), "article", article_id)
            self.drafts[article["id"]] = text or article["text"] + "<p>Draft 📝</p>"
            article["hasDraft"] = True
            self._changed()
            return article

    def move_article(self, article_id, categories):
        """New categories (ids of the article's collection; empty: Uncategorized); `updatedAt` stays."""
        with self.lock:
            article = self._need(self.article(article_id), "article", article_id)
            for category_id in categories:
                category = self._need(self.category(category_id), "category", category_id)
                if category["collectionId"] != article["collectionId"] or category["id"] in self.uncategorized_ids:
                    raise ValueError(f"category {category_id} is not a named category of the article's collection")
            article["categories"] = list(categories)
            self._changed()
            return article

    def add_category(self, collection_id, name=None):
        """A new, empty, never-edited category at the end of the collection's order. Returns its id."""
        with self.lock:
            collection = self._need(self.collection(collection_id), "collection", collection_id)
            order = 1 + max((c["order"] for c in self.categories if c["collectionId"] == collection_id), default=0)
            category = self.new_category(self._rng, collection, name or f"Category {self._numbers['category'] + 1}",
                                         order, self.now(), None, self._rng.choice(self.user_ids))
            self._changed()
            return category["id"]

    def delete_category(self, category_id):
        """Its articles lose it (those left in no category belong to Uncategorized); their
        `updatedAt` stays. Uncategorized itself cannot be deleted (ValueError)."""
        with self.lock:
            category = self._need(self.category(category_id), "category", category_id)
            if category["id"] in self.uncategorized_ids:
                raise ValueError("the Uncategorized category cannot be deleted")
            self.categories.remove(category)
            for article in self.articles:
                if category["id"] in article["categories"]:
                    article["categories"].remove(category["id"])
            self._changed()

    def add_collection(self, site_id=None, name=None, visibility="public"):
        """A new, empty collection (with its Uncategorized category) on `site_id` (default: the
        first site). Returns its id."""
        if visibility not in ("public", "private"):
            raise ValueError("visibility must be public or private")
        with self.lock:
            site = self.site(site_id) if site_id else (self.sites[0] if self.sites else None)
            site = self._need(site, "site", site_id)
            order = 1 + max((c["order"] for c in self.collections if c["siteId"] == site["id"]), default=0)
            collection = self.new_collection(self._rng, site, name or f"Collection {self._numbers['collection'] + 1}",
                                             visibility, order, self.now(), None, self._rng.choice(self.user_ids))
            self._changed()
            return collection["id"]

    def delete_collection(self, collection_id):
        """The collection, its categories and its articles are gone."""
        with self.lock:
            collection = self._need(self.collection(collection_id), "collection", collection_id)
            for article in self.articles_in_collection(collection_id):
                self.delete_article(article["id"])
            gone = {c["id"] for c in self.categories if c["collectionId"] == collection_id}
            self.categories = [c for c in self.categories if c["id"] not in gone]
            self.uncategorized_ids -= gone
            self.collections.remove(collection)
            self._changed()


def generate_docs(seed=1, sites=2, collections=4, categories=4, articles=300, user_ids=(), mailbox_ids=()):
    """The knowledge base: a pure function of its arguments. `articles=0` gives none at all (no
    site, collection or category either)."""
    data = DocsData(user_ids, mailbox_ids, seed)
    if articles <= 0:
        return data
    if sites < 1 or collections < 1 or categories < 0:
        raise ValueError("a knowledge base needs at least one site and one collection")
    rng = random.Random(f"helpscout-docs/{seed}")
    users = data.user_ids

    for i in range(sites):
        sub, title, cname = SITE_NAMES[i % len(SITE_NAMES)]
        sub = sub if i < len(SITE_NAMES) else f"{sub}-{i}"
        created = _between(rng, HISTORY_START, datetime(2019, 6, 1, tzinfo=UTC))
        updated = _between(rng, created, HISTORY_END)
        data.sites.append({
            "id": object_id(rng, created), "status": "active", "subDomain": sub, "cname": cname if i == 0 else None,
            "hasPublicSite": i == 0, "companyName": "Acme Café GmbH", "title": title,
            "logoUrl": f"https://d33v4339jhl8k0.cloudfront.net/docs/assets/{sub}/logo.png",
            "logoWidth": 240, "logoHeight": 60, "favIconUrl": None, "touchIconUrl": None,
            "homeUrl": "https://www.acme.example.com", "homeLinkText": "Zurück zu Acme",
            "bgColor": "#FFFFFF", "description": "Answers, guides and how-tos ✨", "hasContactForm": i == 0,
            "mailboxId": data.mailbox_ids[i % len(data.mailbox_ids)] if i == 0 else None,
            "contactEmail": "support@acme.example.com" if i == 0 else None,
            "styleSheetUrl": None, "headerCode": None,
            "createdBy": users[0], "updatedBy": users[i % len(users)],
            "createdAt": iso(created), "updatedAt": iso(updated),
            # undocumented keys, as captured answers carry them
            "homePageContent": "<p>Bienvenue ! How can we help?</p>", "pageBgColor": "#F9F9F9",
            "headerBgColor": "#1F2D3D", "navTextColor": "#FFFFFF", "linkColor": "#3197D6",
            "metaDescription": None, "includeMetadata": True})

    orders = {}
    for i in range(collections):
        site = data.sites[i % sites]
        orders[site["id"]] = orders.get(site["id"], 0) + 1
        created = _between(rng, parse_iso(site["createdAt"]), datetime(2020, 6, 1, tzinfo=UTC))
        edited = i % 4 != 3
        name = COLLECTION_NAMES[i % len(COLLECTION_NAMES)] + ("" if i < len(COLLECTION_NAMES) else f" {i}")
        collection = data.new_collection(rng, site, name, "private" if i % 3 == 1 else "public", orders[site["id"]],
                                         created, _between(rng, created, HISTORY_END) if edited else None,
                                         rng.choice(users))
        if i == 2:
            del collection["description"]          # optional: one collection has none
        named = 0 if (i == collections - 1 and collections > 1) else categories
        for j in range(named):
            cat_created = _between(rng, created, datetime(2021, 1, 1, tzinfo=UTC))
            name = CATEGORY_NAMES[j % len(CATEGORY_NAMES)] + ("" if j < len(CATEGORY_NAMES) else f" {j}")
            # the second and third share an order value; every third one was never edited
            data.new_category(rng, collection, name, j + 1 if j != 2 else 2, cat_created,
                              None if j % 3 == 2 else _between(rng, cat_created, HISTORY_END), rng.choice(users))

    # articles: 70% in the first collection, the rest spread over the others
    big = articles if collections == 1 else round(articles * BIG_COLLECTION_SHARE)
    shares = [big] + [(articles - big) // (collections - 1) + (1 if k < (articles - big) % (collections - 1) else 0)
                      for k in range(collections - 1)]
    created_times = sorted(_between(rng, datetime(2020, 6, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC))
                           for _ in range(articles))
    batch_at = len(created_times) // 3                # an import: IMPORT_BATCH articles share one createdAt
    for k in range(batch_at, min(batch_at + IMPORT_BATCH, len(created_times))):
        created_times[k] = created_times[batch_at]
    homes = [c for c, share in zip(data.collections, shares) for _ in range(share)]
    rng.shuffle(homes)
    for n, (created, collection) in enumerate(zip(created_times, homes)):
        imported = batch_at <= n < batch_at + IMPORT_BATCH
        roll = rng.random()
        status = "published" if roll < 0.8 else "notpublished"
        edited = not imported and rng.random() < 0.75
        updated = _between(rng, created, HISTORY_END) if edited else None
        if status == "published":
            published = updated or created
        else:
            # unpublished (an edit: only edited ones) or never published
            published = _between(rng, created, updated) if roll < 0.9 and updated else None
        named = [c["id"] for c in data.categories
                 if c["collectionId"] == collection["id"] and c["id"] not in data.uncategorized_ids]
        pick = rng.random()
        count = 0 if (pick < 0.15 or not named) else (1 if pick < 0.75 else rng.randint(2, 3))
        topic = ARTICLE_TOPICS[n % len(ARTICLE_TOPICS)]
        name = topic if n < len(ARTICLE_TOPICS) or rng.random() < 0.1 else f"{topic} ({n})"   # a few names repeat
        views = int(rng.paretovariate(1.1) * 10) - 10 if rng.random() < 0.9 else 0
        article = data.new_article(rng, collection, name, rng.choice(TEXTS) + f"<p>Article n°{n} 📘</p>", created,
                                   status, rng.sample(named, min(count, len(named))),
                                   rng.sample(KEYWORDS, rng.randint(0, 4)), updated, rng.choice(users), published,
                                   min(views, 250_000))
        if rng.random() < 0.1:
            data.drafts[article["id"]] = article["text"] + "<p>Draft: work in progress 🚧</p>"
            article["hasDraft"] = True
    ids = [a["id"] for a in data.articles]
    for article in data.articles:
        if rng.random() < 0.3:
            others = [i for i in ids if i != article["id"]]
            article["related"] = rng.sample(others, min(rng.randint(1, 3), len(others)))

    # the bulk edit: TIE_GROUP edited articles of the big collection get one updatedAt second
    edited = sorted((a for a in data.articles_in_collection(data.collections[0]["id"]) if a["updatedAt"]),
                    key=lambda a: (a["updatedAt"], a["id"]), reverse=True)
    size = min(TIE_GROUP, len(edited))
    start = min(TIE_GROUP_RANK, max(0, len(edited) - size))
    group = edited[start:start + size]
    if group:
        second, by = group[0]["updatedAt"], rng.choice(users)
        for article in group:
            article["updatedAt"], article["updatedBy"] = second, by
            if article["status"] == "published":
                article["lastPublishedAt"] = second
    data.tie_group = [a["id"] for a in group]
    data.import_batch = [a["id"] for a in data.articles[batch_at:batch_at + IMPORT_BATCH]]
    return data
