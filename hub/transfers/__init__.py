"""Case transfer between areas: offers, the atomic acceptance and the moved network subscriptions."""
