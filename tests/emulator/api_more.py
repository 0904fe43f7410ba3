"""Endpoints beyond the original eleven streams, as Help Scout's API reference documents them
(docs/sources.md): tags, organizations, customer property definitions and saved replies. A
mixin of `Api`."""
from .resources import organization_counts, organization_property_values, preview
from .shapes import (CONVERSATIONS_PAGE_SIZE, JSON, PAGE_SIZE, Reply, dumps, error_reply, one_of)

ORGANIZATION_SORT_FIELDS = ("name", "customerCount", "conversationCount", "lastInteractionAt")
ORGANIZATION_COUNT_KEYS = ("customerCount", "conversationCount", "lastInteractionAt")


class MoreEndpoints:
    # ------------------------------------------------------------------ tags
    def list_tags(self, query, raw_query):
        # "alphabetical order" [section 9]; id breaks ties between names equal but for case
        return self.simple_list("tags", self.data.tags, query, raw_query, self.tag_links,
                                order=lambda t: (t["name"].casefold(), t["id"]))

    def tag_links(self, tag):
        return {"self": self.link(f"tags/{tag['id']}")}

    def get_tag(self, tag_id):
        tag = next((t for t in self.data.tags if t["id"] == tag_id), None)
        if tag is None:
            return error_reply(404, "Tag not found")
        return Reply(200, dumps({**tag, "_links": self.tag_links(tag)}))

    # ------------------------------------------------------------------ organizations
    def organization_item(self, organization, counts=None, properties=False):
        item = dict(organization)
        if counts is not None:
            customer_count, conversation_count, last_interaction = counts
            item["customerCount"], item["conversationCount"] = customer_count, conversation_count
            if last_interaction is not None:         # absent without any conversation
                item["lastInteractionAt"] = last_interaction
        if properties:
            item["properties"] = organization_property_values(self.data, organization["id"])
        oid = organization["id"]
        item["_links"] = {"self": self.link(f"organizations/{oid}"),
                          "customers": self.link(f"organizations/{oid}/customers"),
                          "conversations": self.link(f"organizations/{oid}/conversations")}
        return item

    def list_organizations(self, query, raw_query):
        """`sort=field,asc|desc` (field one of ORGANIZATION_SORT_FIELDS; direction asc when
        left out), default `lastInteractionAt,desc` [section 9]. Counts are in every item, unless
        `organization_list_counts` is off (the documentation's list shows none)."""
        field, _, direction = query.get("sort", "lastInteractionAt,desc").partition(",")
        one_of("sort", field, ORGANIZATION_SORT_FIELDS)
        direction = one_of("sort", direction or "asc", ("asc", "desc"))
        with self.data.lock:
            counts = organization_counts(self.data)
            items = [self.organization_item(o, counts[o["id"]]) for o in self.data.organizations]

        def value(item):
            if field == "name":
                return item["name"].casefold()
            if field == "lastInteractionAt":
                return item.get(field, "")          # none yet: first asc, last desc
            return item[field]

        items.sort(key=lambda i: (value(i), i["id"]), reverse=direction == "desc")
        number = self.page_number(query)
        chunk = self.page_rows(items, number, PAGE_SIZE, tie=value)
        if not self.readings.organization_list_counts:
            # the list as its documentation shows it: sorted by the counts, but without them
            chunk = [{k: v for k, v in i.items() if k not in ORGANIZATION_COUNT_KEYS} for i in chunk]
        return self.page("organizations", raw_query, "organizations", [dumps(i) for i in chunk], number,
                         PAGE_SIZE, len(items))

    def organization(self, organization_id):
        return next((o for o in self.data.organizations if o["id"] == organization_id), None)

    def get_organization(self, organization_id, query):
        """Counts (and `lastInteractionAt`) only with `includeCounts=true` [section 9]; the
        property values only with `includeProperties=true`."""
        include = one_of("includeCounts", query.get("includeCounts", "false"), ("true", "false")) == "true"
        properties = one_of("includeProperties", query.get("includeProperties", "false"), ("true", "false"))
        with self.data.lock:
            organization = self.organization(organization_id)
            if organization is None:
                return error_reply(404, "Organization not found")
            counts = organization_counts(self.data)[organization_id] if include else None
            return Reply(200, dumps(self.organization_item(organization, counts, properties == "true")))

    def list_organization_properties(self):
        """`/organizations/properties`: HAL key `organization-properties`, every definition in
        one answer (at most 50 per account): no `page` block, no paging links. Items as the
        endpoint's documentation shows them: `{type, slug, name}`, `options: [{label}]` on
        dropdowns only, no `_links` of their own."""
        with self.data.lock:
            items = [dict(p) for p in self.data.organization_properties]
        body = {"_embedded": {"organization-properties": items}} if items else {}
        body["_links"] = {"self": self.link("organizations/properties")}
        return Reply(200, dumps(body))

    def organization_customers(self, organization_id, query, raw_query):
        number = self.page_number(query)
        with self.data.lock:
            if self.organization(organization_id) is None:
                return error_reply(404, "Organization not found")
            members = sorted((c for c in self.data.customers if c.get("organizationId") == organization_id),
                             key=lambda c: (c["createdAt"], c["id"]), reverse=True)
            chunk = self.page_rows(members, number, PAGE_SIZE, tie=lambda c: c["createdAt"])
            fragments = [self.customer_json(c) for c in chunk]
        return self.page(f"organizations/{organization_id}/customers", raw_query, "customers", fragments, number,
                         PAGE_SIZE, len(members))

    def organization_conversations(self, organization_id, query, raw_query):
        number = self.page_number(query)
        with self.data.lock:
            if self.organization(organization_id) is None:
                return error_reply(404, "Organization not found")
            members = {c["id"] for c in self.data.customers if c.get("organizationId") == organization_id}
            convs = sorted((c for c in self.data.conversations if c["primaryCustomer"]["id"] in members),
                           key=lambda c: (c["createdAt"], c["id"]), reverse=True)
            chunk = self.page_rows(convs, number, CONVERSATIONS_PAGE_SIZE, tie=lambda c: c["createdAt"])
            fragments = [self.conversation_json(c, False) for c in chunk]
        return self.page(f"organizations/{organization_id}/conversations", raw_query, "conversations", fragments,
                         number, CONVERSATIONS_PAGE_SIZE, len(convs))

    # ------------------------------------------------------------------ customer properties
    def property_item(self, definition):
        return {**definition, "_links": {"self": self.link(f"customer-properties/{definition['slug']}")}}

    def list_customer_properties(self, query, raw_query):
        """HAL key `customer-properties` (with a hyphen); at most 50 per account, so one page."""
        return self.simple_list("customer-properties", self.data.customer_properties, query, raw_query,
                                lambda p: self.property_item(p)["_links"], order=lambda p: p["slug"])

    def get_customer_property(self, slug):
        definition = next((p for p in self.data.customer_properties if p["slug"] == slug), None)
        if definition is None:
            return error_reply(404, "Customer property not found")
        return Reply(200, dumps(self.property_item(definition)))

    # ------------------------------------------------------------------ saved replies
    def list_saved_replies(self, mailbox_id, query, raw_query):
        """A bare JSON array of {id, name, preview, chatPreview} (the endpoint's documentation);
        replies for chat only with `includeChatReplies=true`. With `saved_replies_hal` the
        older reading instead: HAL, key `savedReplies`, 50 per page, with a page block."""
        include_chat = one_of("includeChatReplies", query.get("includeChatReplies", "false"),
                              ("true", "false")) == "true"
        replies = [r for r in self.data.saved_replies[mailbox_id]
                   if include_chat or r["id"] not in self.data.chat_saved_reply_ids]
        items = [{"id": r["id"], "name": r["name"], "preview": preview(r["text"]),
                  "chatPreview": preview(r["chatText"])} for r in replies]
        if self.readings.saved_replies_hal:
            return self.simple_list(f"mailboxes/{mailbox_id}/saved-replies", items, query, raw_query,
                                    lambda r: {"self": self.link(f"mailboxes/{mailbox_id}/saved-replies/{r['id']}")},
                                    key="savedReplies")
        return Reply(200, dumps(items), JSON)

    def get_saved_reply(self, mailbox_id, reply_id):
        reply = next((r for r in self.data.saved_replies[mailbox_id] if r["id"] == reply_id), None)
        if reply is None:
            return error_reply(404, "Saved reply not found")
        return Reply(200, dumps({"id": reply["id"], "name": reply["name"], "text": reply["text"],
                                 "chatText": reply["chatText"]}), JSON)
