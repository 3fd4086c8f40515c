-- A campaign's own webhook URLs: `mailcast serve` POSTs each event of the
-- campaign (deliveries, bounces, opens, clicks, unsubscribes) to them, on
-- top of the --webhook URLs that get every campaign's. The URLs are kept
-- in the store (table campaign_webhooks), so a serve already running
-- picks them up within a poll interval; each starts at the store's newest
-- event when first registered, and registering again changes nothing.
local core = require "mailcast.core"

local M = {}

--- webhooks.register(store_path, campaign_id, urls) -> true | nil, message
-- store_path: the campaign's store file; campaign_id: its id in that store
-- (store:campaign(name)); urls: a list of http:// or https:// URLs (a
-- single string is taken as a list of one).
function M.register(store_path, campaign_id, urls)
  if type(store_path) ~= "string" then
    error("mailcast.webhooks.register: store_path must be the store's file name", 2)
  end
  if math.type(campaign_id) ~= "integer" then
    error("mailcast.webhooks.register: campaign_id must be an integer", 2)
  end
  if type(urls) == "string" then urls = { urls } end
  if type(urls) ~= "table" then
    error("mailcast.webhooks.register: urls must be a list of URLs", 2)
  end
  return core.webhook_register(store_path, campaign_id, urls)
end

return M
