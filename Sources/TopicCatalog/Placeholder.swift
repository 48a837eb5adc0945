public enum TopicCatalogPlaceholder {}
