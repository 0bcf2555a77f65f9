DROP TABLE route_stops;
