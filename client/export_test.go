package client

const MaxDescriptorLen = maxDescriptorLen
