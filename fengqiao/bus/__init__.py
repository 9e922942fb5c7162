"""RabbitMQ conventions: topology, reliable handlers, event emitters, dead letters."""
